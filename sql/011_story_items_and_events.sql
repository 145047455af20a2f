-- Stories remembered: every story item a check has seen, and the events "posted" and "ended", each exactly once.
--
-- story_items is written in the transaction that records a chunk's results (src/repos/story-items.ts), and only
-- for the profiles whose result that transaction changed: an overlapping attempt of the same chunk, a retried
-- activity or a replayed workflow changes nothing and so writes nothing. The unique keys below say the same thing
-- a second time, in the database itself.
create table story_items (
  profile_id           uuid not null references profiles(id) on delete cascade,
  -- the source's own item id, opaque (digits on the real source)
  item_pk              text not null check (length(item_pk) between 1 and 100),
  taken_at             timestamptz not null,
  expiring_at          timestamptz not null,
  media_type           text check (media_type in ('image', 'video')),
  first_seen_at        timestamptz not null,
  first_seen_batch_id  uuid references batches(id) on delete set null,
  last_seen_at         timestamptz not null,
  last_seen_batch_id   uuid references batches(id) on delete set null,
  -- when it ended: its expiring_at when that passed, else the check that no longer listed it; null while live
  ended_at             timestamptz,
  primary key (profile_id, item_pk)
);
-- a profile's timeline, newest first
create index story_items_timeline_idx on story_items (profile_id, taken_at desc, item_pk desc);
-- the items a check compares its answer with: those not ended yet
create index story_items_open_idx on story_items (profile_id) where ended_at is null;
-- retention: ended items by age
create index story_items_ended_idx on story_items (ended_at) where ended_at is not null;
-- deleting a batch clears these references (on delete set null) without walking the whole table
-- (last_seen_batch_id has none on purpose: every check of a live item moves it, and without an index on it that
-- update can stay on its page (HOT); deleting a batch, which only the retention schedule does and only when
-- BATCH_RETENTION_DAYS is set, walks story_items once for it)
create index story_items_first_seen_batch_idx on story_items (first_seen_batch_id) where first_seen_batch_id is not null;

create table story_events (
  seq          bigint generated always as identity primary key,
  type         text not null check (type in ('story.posted', 'story.ended')),
  profile_id   uuid not null references profiles(id) on delete cascade,
  item_pk      text not null,
  batch_id     uuid references batches(id) on delete set null,
  -- posted: the item's taken_at; ended: its expiring_at when that passed, else the check that found it gone
  occurred_at  timestamptz not null,
  details      jsonb not null default '{}',
  created_at   timestamptz not null default now(),
  -- one event of each type per item, whatever retries or crashes happen
  constraint story_events_once unique (profile_id, item_pk, type)
);
create index story_events_profile_idx on story_events (profile_id, seq);
create index story_events_created_idx on story_events (created_at);
create index story_events_batch_idx on story_events (batch_id) where batch_id is not null;

-- story_events.seq in commit order, exactly as batch_logs.seq (005_batch_logs_commit_order.sql): readers page by
-- `seq > last` and must never skip a late commit. The same advisory key as batch_logs: a transaction that writes
-- both (every chunk's results) then takes one lock twice instead of two locks in an order another could reverse.
create function story_events_seq_at_commit() returns trigger
language plpgsql as $$
begin
  perform pg_advisory_xact_lock('batch_logs'::regclass::oid::int, 1);
  update story_events set seq = default where seq = new.seq;
  return null;
end;
$$;

create constraint trigger story_events_seq_at_commit
  after insert on story_events
  deferrable initially deferred
  for each row execute function story_events_seq_at_commit();

-- GET /profiles/:id/checks: a profile's results across batches, newest first. It also serves the recent-result
-- cache (a profile's newest upstream result is among its newest rows), so it replaces that narrower index and
-- recording a result maintains as many indexes as before.
create index batch_profiles_profile_checks_idx on batch_profiles (profile_id, checked_at desc) where checked_at is not null;
drop index batch_profiles_upstream_result_idx;
