-- A batch may answer a profile from that profile's last successful upstream check instead of asking again,
-- when that check is younger than the batch's max_age_s (0 = never).
alter table batches add column max_age_s integer not null default 0 check (max_age_s >= 0);

-- Where a completed result came from: 'upstream' (asked in this batch) or 'cache' (copied from an earlier
-- upstream result, with its original checked_at). Null while unfinished and for failures.
alter table batch_profiles add column source text check (source in ('upstream', 'cache'));
update batch_profiles set source = 'upstream' where status = 'completed';

-- A profile's latest upstream result, found without scanning its history: the cache reads only these rows,
-- so an answer from the cache never makes a result look younger than it is.
create index batch_profiles_upstream_result_idx on batch_profiles (profile_id, checked_at desc)
  where status = 'completed' and source = 'upstream';
