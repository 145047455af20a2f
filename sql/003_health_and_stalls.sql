-- Self-healing: why a proxy is out of use and when it was last probed; why a batch cannot send.

-- 'operator' (PATCH status=disabled: only an operator re-enables it) or 'failures' (consecutive proxy faults:
-- the proxy-health schedule probes it and re-enables it when it answers).
alter table proxies add column disabled_reason text check (disabled_reason in ('operator', 'failures'));
update proxies set disabled_reason = 'failures' where status = 'disabled';
alter table proxies add constraint proxies_disabled_reason_present
  check ((status = 'disabled') = (disabled_reason is not null));
-- why a proxy rests: asked to slow down ('rate_limited'), or it could not reach the upstream ('upstream_unreachable')
alter table proxies add column rest_reason text check (rest_reason in ('rate_limited', 'upstream_unreachable'));
alter table proxies add column last_error text;
alter table proxies add column last_checked_at timestamptz;

alter table sessions add column last_error text;
alter table sessions add column last_checked_at timestamptz;

-- blocked_*: nothing could be sent for this batch since then, for this reason (cleared by any progress);
-- stalled_*: the same, once it has lasted BATCH_STALL_AFTER_MS (what the API shows, with one BATCH_STALLED log).
alter table batches add column blocked_reason text;
alter table batches add column blocked_since timestamptz;
alter table batches add column stalled_reason text
  check (stalled_reason in ('no_usable_proxy', 'upstream_unreachable', 'no_valid_session', 'queue_held'));
alter table batches add column stalled_since timestamptz;

-- A result and a log keep the id of the proxy they went through even after that proxy is deleted: with the
-- foreign keys, deleting a proxy while a chunk ran made the chunk's answered results fail to persist.
alter table batch_profiles drop constraint batch_profiles_proxy_id_fkey;
alter table batch_logs drop constraint batch_logs_proxy_id_fkey;
