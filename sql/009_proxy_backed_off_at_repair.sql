-- proxies.backed_off_at was added to 007_proxy_rate.sql after that file had first been applied somewhere: a
-- database migrated in between records 007 as applied but has no such column. It is added here where it is
-- missing, exactly as 007 now declares it (when the learned rate last backed off; null: never).
alter table proxies add column if not exists backed_off_at timestamptz;
