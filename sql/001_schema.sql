-- storycheck schema: the whole domain of API.md. Forward-only; never edit once applied.

create table niches (
  id          uuid primary key default gen_random_uuid(),
  name        text not null unique check (length(name) between 1 and 200),
  created_at  timestamptz not null default now()
);

create table profiles (
  id                   uuid primary key default gen_random_uuid(),
  username             text not null unique check (username ~ '^[a-z0-9._]{1,30}$'),
  niche_id             uuid references niches(id) on delete set null,
  -- upstream user ids never change: cached here so the lookup request happens once per profile
  upstream_user_id     text,
  is_private           boolean,
  active_story         boolean not null default false,
  last_story_detected  timestamptz,
  last_checked_at      timestamptz,
  total_checks         integer not null default 0 check (total_checks >= 0),
  total_detections     integer not null default 0 check (total_detections >= 0 and total_detections <= total_checks),
  created_at           timestamptz not null default now()
);
create index profiles_niche_idx on profiles (niche_id, id);
create index profiles_active_story_idx on profiles (active_story, id);

create table proxies (
  id                    uuid primary key default gen_random_uuid(),
  -- scheme://host:port, never with credentials (they live in the two columns below)
  url                   text not null unique check (url ~ '^https?://[^/@]+$'),
  username              text,
  password              text,
  -- 'cooling_down' is stored together with rate_limited_until; once that moment passes the proxy is
  -- usable again and reads as active (see proxy_effective_status)
  status                text not null default 'active' check (status in ('active', 'cooling_down', 'disabled')),
  rate_limited_until    timestamptz,
  -- pacing: the earliest moment the next request may leave through this proxy
  next_free_at          timestamptz,
  last_used_at          timestamptz,
  success_count         bigint not null default 0 check (success_count >= 0),
  failure_count         bigint not null default 0 check (failure_count >= 0),
  consecutive_failures  integer not null default 0 check (consecutive_failures >= 0),
  lease_holder          text,
  lease_expires_at      timestamptz,
  created_at            timestamptz not null default now(),
  check ((lease_holder is null) = (lease_expires_at is null))
);
create index proxies_lru_idx on proxies (last_used_at nulls first, id) where status <> 'disabled';

create table sessions (
  id            uuid primary key default gen_random_uuid(),
  token         text not null unique check (length(token) between 1 and 4096),
  proxy_id      uuid references proxies(id) on delete set null,
  status        text not null default 'valid' check (status in ('valid', 'invalid')),
  last_used_at  timestamptz,
  created_at    timestamptz not null default now()
);
create index sessions_proxy_idx on sessions (proxy_id) where status = 'valid';

create sequence batch_queue_seq;

create table batches (
  id                  uuid primary key default gen_random_uuid(),
  name                text,
  status              text not null check (status in ('queued', 'running', 'paused', 'done', 'error', 'cancelled')),
  -- 0 = the running batch, 1..n = place in the queue, null = not in the queue
  position            integer,
  priority            integer not null default 0,
  -- queue order: a batch that was explicitly started jumps ahead of everything (latest start first),
  -- then higher priority, then the order of entering the queue
  head_seq            bigint,
  queue_seq           bigint not null default nextval('batch_queue_seq'),
  total_profiles      integer not null default 0 check (total_profiles >= 0),
  successful_checks   integer not null default 0 check (successful_checks >= 0),
  failed_checks       integer not null default 0 check (failed_checks >= 0),
  stories_found       integer not null default 0 check (stories_found >= 0 and stories_found <= successful_checks),
  error               text,
  workflow_id         text,
  -- how many times the batch has been started; part of child workflow ids so a resumed batch gets a new run
  run_count           integer not null default 0 check (run_count >= 0),
  created_at          timestamptz not null default now(),
  started_at          timestamptz,
  completed_at        timestamptz,
  updated_at          timestamptz not null default now(),
  check (successful_checks + failed_checks <= total_profiles),
  check (
    (status = 'running' and position = 0)
    or (status = 'queued' and position >= 1)
    or (status not in ('running', 'queued') and position is null)
  ),
  -- deferred so that renumbering the queue in one statement never trips over a transient duplicate
  constraint batches_position_unique unique (position) deferrable initially deferred
);
create index batches_status_idx on batches (status, created_at desc, id desc);
create index batches_created_idx on batches (created_at desc, id desc);

create table batch_profiles (
  batch_id     uuid not null references batches(id) on delete cascade,
  profile_id   uuid not null references profiles(id) on delete cascade,
  -- order within the batch (the order profiles were given); the workflow pages by it
  ordinal      integer not null check (ordinal >= 1),
  status       text not null default 'pending' check (status in ('pending', 'running', 'completed', 'failed')),
  has_story    boolean,
  story_count  integer check (story_count >= 0),
  error        text,
  attempts     integer not null default 0 check (attempts >= 0),
  proxy_id     uuid references proxies(id) on delete set null,
  duration_ms  integer check (duration_ms >= 0),
  checked_at   timestamptz,
  primary key (batch_id, profile_id),
  unique (batch_id, ordinal)
);
create index batch_profiles_status_idx on batch_profiles (batch_id, status, ordinal);

create table batch_logs (
  seq          bigint generated always as identity primary key,
  id           uuid not null unique default gen_random_uuid(),
  batch_id     uuid references batches(id) on delete cascade,
  profile_id   uuid references profiles(id) on delete set null,
  proxy_id     uuid references proxies(id) on delete set null,
  level        text not null check (level in ('INFO', 'WARNING', 'ERROR')),
  event_type   text not null check (event_type ~ '^[A-Z][A-Z_]*$'),
  message      text not null,
  details      jsonb,
  duration_ms  integer check (duration_ms >= 0),
  created_at   timestamptz not null default now()
);
create index batch_logs_batch_idx on batch_logs (batch_id, seq);

-- a single row: whether the whole queue is held
create table queue_state (
  singleton   boolean primary key default true check (singleton),
  paused      boolean not null default false,
  updated_at  timestamptz not null default now()
);
insert into queue_state (singleton, paused) values (true, false);
