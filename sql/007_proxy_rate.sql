-- A proxy is a rate, not a lock.
--
-- Until now a proxy carried one request at a time (lease_holder / lease_expires_at on its row). Now requests
-- through one proxy overlap, up to PROXY_MAX_IN_FLIGHT, and are paced by the proxy's rate instead:
--
-- - proxy_slots: one row per request in flight (or reserved and waiting for its send time). A holder that
--   crashes leaves its row behind; it expires and is reclaimed (expires_at), as a lease did.
-- - proxies.in_flight: the number of unexpired slot rows, kept beside them so that the pool's one locked
--   candidate row decides alone, and exactly, whether the proxy has room for one more request.
-- - proxies.next_free_at keeps its meaning, the earliest moment the next request may leave through the
--   proxy, but it now advances by the proxy's send interval each time a slot is reserved (a schedule of send
--   times: a token bucket with no burst), instead of being set when a lease ends.
-- - proxies.learned_rate_per_s: the rate this proxy sustains without 429s, learned from its answers and kept
--   here, so every worker and every later batch starts from it. Null: nothing learned yet (no 429 seen).
-- - proxies.rate_ceiling_per_s: the rate at which the proxy was last answered 429; the learned rate climbs
--   back towards just below it quickly and probes above it slowly.
-- - proxies.successes_since_backoff and backed_off_at: successes since the learned rate last backed off, and
--   when it did. A 429 backs off again only after some (a source that answers 429 at random, whatever the
--   rate, does not drive the rate to zero), and their rate over that time is the rate the source sustained.
-- - proxies.send_gap_ms: a moving average of the time between two sends through the proxy, which tells the
--   rate it was sending at when the first 429 arrives and nothing was learned yet.
create table proxy_slots (
  id          bigint generated always as identity primary key,
  proxy_id    uuid not null references proxies(id) on delete cascade,
  holder      text not null,
  expires_at  timestamptz not null
);
create index proxy_slots_expiry_idx on proxy_slots (expires_at);
create index proxy_slots_proxy_idx on proxy_slots (proxy_id);

alter table proxies add column in_flight integer not null default 0 check (in_flight >= 0);
alter table proxies add column learned_rate_per_s double precision check (learned_rate_per_s > 0);
alter table proxies add column rate_ceiling_per_s double precision check (rate_ceiling_per_s > 0);
alter table proxies add column backed_off_at timestamptz;
alter table proxies add column successes_since_backoff integer not null default 0 check (successes_since_backoff >= 0);
alter table proxies add column send_gap_ms double precision check (send_gap_ms >= 0);

-- leases in progress at the upgrade are simply forgotten: their holders release nothing that still exists
-- (the check that paired the two columns goes with them)
alter table proxies drop column lease_holder;
alter table proxies drop column lease_expires_at;
