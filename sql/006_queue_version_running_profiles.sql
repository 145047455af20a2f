-- Every queue-wide pause or resume takes the next version under the queue_state row lock, so versions follow
-- commit order. The queuePaused signal carries it: a workflow that receives two signals out of order keeps the
-- later state instead of the last delivered one.
alter table queue_state add column version bigint not null default 0;

-- A stopped batch (paused, cancelled, error) shows none of its profiles as `running`; the transitions release
-- them through this index instead of scanning every profile of the batch.
create index batch_profiles_running_idx on batch_profiles (batch_id, profile_id) where status = 'running';

-- Rows left `running` by batches that stopped before this rule existed are simply pending again.
update batch_profiles bp set status = 'pending'
from batches b
where b.id = bp.batch_id and bp.status = 'running' and b.status <> 'running';
