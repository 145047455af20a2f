-- Watches (re-check a selection on a schedule) and webhooks (tell other systems when a story appears).
--
-- A watch is a row here and one Temporal Schedule (`watch-<id>`) whose ticks create batches. A tick is
-- idempotent: the batch it creates carries the watch and the tick's scheduled time, unique together, so a retried
-- tick finds the batch it created instead of creating a second.
create table watches (
  id           uuid primary key default gen_random_uuid(),
  name         text not null check (length(name) between 1 and 200),
  -- the selection: a niche (read when each batch is created) or a fixed list of profiles (watch_profiles)
  niche_id     uuid references niches(id) on delete restrict,
  -- the cadence: every N seconds, or a cron expression in `timezone`
  every_s      integer check (every_s between 10 and 2678400),
  cron         text check (length(cron) between 1 and 200),
  timezone     text not null default 'UTC' check (length(timezone) between 1 and 100),
  jitter_s     integer not null default 0 check (jitter_s between 0 and 86400),
  max_age_s    integer not null default 0 check (max_age_s >= 0),
  priority     integer not null default 0,
  paused       boolean not null default false,
  -- the last tick's outcome (created | skipped) and when, for the API and the runbook
  last_tick_at      timestamptz,
  last_tick_result  text check (last_tick_result in ('created', 'skipped')),
  last_skip_reason  text,
  ticks_skipped     integer not null default 0,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  constraint watches_one_cadence check ((every_s is null) <> (cron is null))
);
create index watches_niche_idx on watches (niche_id) where niche_id is not null;

-- a watch's fixed profiles, in the order they were given (a niche watch has none)
create table watch_profiles (
  watch_id    uuid not null references watches(id) on delete cascade,
  profile_id  uuid not null references profiles(id) on delete cascade,
  ordinal     integer not null,
  primary key (watch_id, profile_id)
);
create index watch_profiles_profile_idx on watch_profiles (profile_id);

alter table batches
  add column watch_id uuid references watches(id) on delete set null,
  add column scheduled_at timestamptz,
  add constraint batches_watch_tick check ((watch_id is null) or (scheduled_at is not null));
-- one batch per tick of a watch; also a watch's batches newest first
create unique index batches_watch_tick_idx on batches (watch_id, scheduled_at) where watch_id is not null;

create table webhooks (
  id               uuid primary key default gen_random_uuid(),
  url              text not null check (length(url) between 1 and 2000),
  events           text[] not null check (
    cardinality(events) between 1 and 4
    and events <@ array['story.posted', 'story.ended', 'batch.completed', 'batch.stalled']
  ),
  -- only story events of this niche's profiles, and batch events of batches of this niche's watches
  niche_id         uuid references niches(id) on delete cascade,
  description      text check (length(description) <= 500),
  enabled          boolean not null default true,
  -- why it stopped receiving: an operator, a 410 answer, or failing for WEBHOOK_DISABLE_AFTER_MS
  disabled_reason  text check (disabled_reason in ('operator', 'gone', 'failing')),
  disabled_at      timestamptz,
  -- the first failed attempt since the last successful one (null while it answers)
  failing_since    timestamptz,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  constraint webhooks_disabled_reason check (enabled = (disabled_reason is null))
);

-- An endpoint's signing secrets (`whsec_` + base64). The current one has no expiry; a rotation gives the old one
-- 24 h (expires_at), during which every request is signed with both. Never returned after creation, never logged.
create table webhook_secrets (
  id          bigint generated always as identity primary key,
  webhook_id  uuid not null references webhooks(id) on delete cascade,
  secret      text not null check (secret ~ '^whsec_[A-Za-z0-9+/=]{20,200}$'),
  created_at  timestamptz not null default now(),
  expires_at  timestamptz
);
create index webhook_secrets_webhook_idx on webhook_secrets (webhook_id, id);

-- The outbox: one row per (event, endpoint), written in the transaction that writes the event (triggers below),
-- so no event is lost and none is announced that did not commit. A worker starts one delivery workflow per row
-- (`webhook-<id>`, the duplicate id refused) once it committed, and marks it dispatched.
create table webhook_deliveries (
  id              uuid primary key default gen_random_uuid(),
  webhook_id      uuid not null references webhooks(id) on delete cascade,
  -- the `webhook-id` header: the same on every attempt of this delivery, and on a redelivery of it
  message_id      text not null default 'msg_' || replace(gen_random_uuid()::text, '-', ''),
  event_type      text not null check (event_type in ('story.posted', 'story.ended', 'batch.completed', 'batch.stalled', 'ping')),
  -- what it announces: a story event (profile_id, item_pk, event_type), or a batch log (batch events)
  profile_id      uuid,
  item_pk         text,
  batch_log_id    uuid references batch_logs(id) on delete cascade,
  batch_id        uuid references batches(id) on delete set null,
  -- the body's `data` as of the event (its `seq`, drawn at commit, is added when the body is fixed)
  payload         jsonb not null,
  -- the exact JSON sent, fixed when the delivery is dispatched: every attempt sends the same bytes
  body            text,
  redelivery_of   uuid references webhook_deliveries(id) on delete set null,
  status          text not null default 'pending' check (status in ('pending', 'delivered', 'failed', 'cancelled')),
  attempts        integer not null default 0,
  last_status_code integer,
  last_error      text,
  dispatched_at   timestamptz,
  finished_at     timestamptz,
  created_at      timestamptz not null default now(),
  foreign key (profile_id, item_pk, event_type) references story_events (profile_id, item_pk, type) on delete cascade
);
-- an endpoint's deliveries, newest first (GET /webhooks/:id/deliveries)
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, created_at desc, id desc);
-- the dispatcher's work: committed rows no workflow was started for yet
create index webhook_deliveries_undispatched_idx on webhook_deliveries (created_at, id) where dispatched_at is null;
-- deleting story events (retention) or batch logs finds their deliveries
create index webhook_deliveries_story_event_idx on webhook_deliveries (profile_id, item_pk, event_type) where profile_id is not null;
create index webhook_deliveries_batch_log_idx on webhook_deliveries (batch_log_id) where batch_log_id is not null;
create index webhook_deliveries_batch_idx on webhook_deliveries (batch_id) where batch_id is not null;
-- retention: finished deliveries by age (with LOG_RETENTION_DAYS, like batch logs)
create index webhook_deliveries_finished_idx on webhook_deliveries (finished_at) where finished_at is not null;

-- Every attempt of a delivery: its answer (or error), how long it took, and the start of what came back.
create table webhook_delivery_attempts (
  delivery_id       uuid not null references webhook_deliveries(id) on delete cascade,
  attempt           integer not null check (attempt >= 1),
  started_at        timestamptz not null,
  duration_ms       integer check (duration_ms >= 0),
  status_code       integer,
  error             text,
  response_snippet  text check (length(response_snippet) <= 1024),
  primary key (delivery_id, attempt)
);

-- The outbox rows of new story events, one per matching enabled endpoint, in the inserting transaction. One
-- statement per statement of events (a chunk's), whatever their number; nothing when no endpoint matches. The
-- NOTIFY is delivered at commit, and wakes the dispatchers at once (they also look every few seconds).
create function story_events_to_webhook_outbox() returns trigger
language plpgsql as $$
begin
  insert into webhook_deliveries (webhook_id, event_type, profile_id, item_pk, batch_id, payload)
  select w.id, e.type, e.profile_id, e.item_pk, e.batch_id,
    jsonb_build_object(
      'profile_id', e.profile_id, 'username', p.username, 'niche_id', p.niche_id, 'item_pk', e.item_pk,
      'occurred_at', e.occurred_at, 'batch_id', e.batch_id) || coalesce(e.details, '{}'::jsonb)
  from new_events e
  join profiles p on p.id = e.profile_id
  join webhooks w on w.enabled and e.type = any(w.events) and (w.niche_id is null or w.niche_id = p.niche_id)
  order by e.profile_id, e.item_pk, e.type, w.id;
  if found then
    perform pg_notify('webhook_deliveries', '');
  end if;
  return null;
end;
$$;

create trigger story_events_webhook_outbox
  after insert on story_events
  referencing new table as new_events
  for each statement execute function story_events_to_webhook_outbox();

-- The outbox rows of a batch's completion and stalls (their BATCH_COMPLETED / BATCH_STALLED log), likewise.
-- An endpoint limited to a niche hears of the batches of that niche's watches.
create function batch_logs_to_webhook_outbox() returns trigger
language plpgsql as $$
begin
  insert into webhook_deliveries (webhook_id, event_type, batch_log_id, batch_id, payload)
  select w.id, x.type, l.id, l.batch_id,
    jsonb_build_object(
      'batch_id', b.id, 'name', b.name, 'status', b.status, 'watch_id', b.watch_id,
      'scheduled_at', b.scheduled_at, 'occurred_at', l.created_at, 'message', l.message,
      'stalled_reason', b.stalled_reason, 'total_profiles', b.total_profiles,
      'successful_checks', b.successful_checks, 'failed_checks', b.failed_checks, 'stories_found', b.stories_found)
  from new_logs l
  cross join lateral (
    select case l.event_type when 'BATCH_COMPLETED' then 'batch.completed' else 'batch.stalled' end as type
  ) x
  join batches b on b.id = l.batch_id
  left join watches wa on wa.id = b.watch_id
  join webhooks w on w.enabled and x.type = any(w.events) and (w.niche_id is null or w.niche_id = wa.niche_id)
  where l.event_type in ('BATCH_COMPLETED', 'BATCH_STALLED')
  order by l.id, w.id;
  if found then
    perform pg_notify('webhook_deliveries', '');
  end if;
  return null;
end;
$$;

create trigger batch_logs_webhook_outbox
  after insert on batch_logs
  referencing new table as new_logs
  for each statement execute function batch_logs_to_webhook_outbox();
