-- The queue check of 001 reads `status = 'queued' and position >= 1`: with a null position that is null,
-- not false, and a CHECK only rejects false. So a queued or running batch without a position slipped
-- through. This closes the gap; together with 001's check: running ⇔ 0, queued ⇔ 1..n, otherwise null.
alter table batches add constraint batches_queue_position_present
  check (status not in ('running', 'queued') or position is not null);
