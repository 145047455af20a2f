-- batch_logs.seq in commit order.
--
-- Readers page a batch's logs by `seq > last` (GET /batches/:id/logs, the event stream and its Last-Event-ID).
-- That is only gap-free if every snapshot sees a prefix of the seq order. An identity value taken at insert
-- time does not give that: a transaction that inserts first and commits last makes its row visible under a
-- seq lower than rows readers have already passed.
--
-- So each row's final seq is drawn when its transaction commits, under one transaction-scoped advisory lock:
-- a deferred constraint trigger runs at COMMIT, takes the lock, and redraws the row's seq from the identity.
-- The lock is released only after the commit is visible, so a transaction that draws a seq later commits
-- later, and a snapshot that sees a row sees every row with a lower seq that will ever commit. The seq drawn
-- at insert time is never seen outside the inserting transaction.
--
-- Why this rather than the alternatives:
-- - Locking when the log is inserted would hold the lock through the rest of the caller's transaction (row
--   locks taken after it could deadlock against another writer waiting for it) and serialize whole chunk
--   persists. At commit the lock is the last one a transaction asks for, held only for the commit itself.
--   (The only other deferred check, the queue position uniqueness, is only changed under the queue lock, so
--   a transaction waiting for this lock never holds what a committing one waits for.)
-- - Delivering only rows older than the reader's snapshot xmin (an xid8 column) needs no lock, but then any
--   long or idle-in-transaction session anywhere in the cluster holds every batch's feed back.
-- The redraw is an UPDATE of the transaction's own rows, so Postgres re-runs their foreign-key checks; those
-- never wait, since the row locks they take (KEY SHARE on the batch, profile, proxy) are held since the insert.
-- One key for all batches rather than one per batch: a transaction that logs for two batches cannot then
-- take two keys in opposite orders, and only one batch runs at a time anyway.
-- Rows keep their identity: old cursors and Last-Event-IDs stay valid, and new seqs are above all old ones.

create function batch_logs_seq_at_commit() returns trigger
language plpgsql as $$
begin
  -- two-int key space (the migration lock uses the bigint one): 'batch_logs' table oid, 1
  perform pg_advisory_xact_lock('batch_logs'::regclass::oid::int, 1);
  update batch_logs set seq = default where seq = new.seq;
  return null;
end;
$$;

create constraint trigger batch_logs_seq_at_commit
  after insert on batch_logs
  deferrable initially deferred
  for each row execute function batch_logs_seq_at_commit();
