-- Against the real source.
-- - A proxy whose address the source refuses (403 that follows the address) rests ('blocked'), and when it is
--   refused again it is disabled ('blocked'): the proxy-health schedule re-enables it only once the source answers
--   it otherwise. blocked_strikes counts the refusals since its last answer of any other kind.
-- - proxies.pacing: the proxy's pacing state (src/pool/pacing.ts), kept as JSON so that every worker learns from
--   every answer; pace_interval_ms is the interval it yields, which taking a slot reads without decoding it.
-- - A session carries up to SESSION_MAX_IN_FLIGHT requests at once (sessions.in_flight, the slots that hold it:
--   proxy_slots.session_id). A refusal invalidates it only on evidence: a checkpoint, or refusals for two different
--   requests (refused_subject remembers the first).
alter table proxies drop constraint proxies_disabled_reason_check;
alter table proxies add constraint proxies_disabled_reason_check check (disabled_reason in ('operator', 'failures', 'blocked'));
alter table proxies drop constraint proxies_rest_reason_check;
alter table proxies add constraint proxies_rest_reason_check check (rest_reason in ('rate_limited', 'upstream_unreachable', 'blocked'));
alter table proxies add column blocked_strikes integer not null default 0 check (blocked_strikes >= 0);
alter table proxies add column pacing jsonb;
alter table proxies add column pace_interval_ms double precision not null default 0 check (pace_interval_ms >= 0);

alter table sessions add column in_flight integer not null default 0 check (in_flight >= 0);
alter table sessions add column refused_subject text;
alter table sessions add column refused_at timestamptz;
alter table proxy_slots add column session_id uuid references sessions(id) on delete set null;
create index proxy_slots_session_idx on proxy_slots (session_id) where session_id is not null;
