/**
 * One profile: its facts, its story timeline (every item a check saw, live or ended, with the batches that first
 * and last saw it) and its checks across batches, both paged, newest first.
 */
import { get, type ApiNiche, type ApiProfile, type ApiProfileCheck, type ApiStoryItem, type Page } from '../api.js';
import { ErrorNote, Link, ListTable, Loading, Stat, StatusBadge, usePager } from '../components.js';
import { ago, count, dateTime } from '../format.js';
import { useLoad } from '../live.js';

const PAGE_SIZE = 25;

export function ProfilePage({ id }: { id: string }) {
  const path = `/profiles/${encodeURIComponent(id)}`;
  const profile = useLoad(() => get<ApiProfile>(path), [path], 10_000);
  const p = profile.data;
  if (!p) {
    return (
      <section>
        <h1>Profile</h1>
        <ErrorNote error={profile.error} />
        {!profile.error && <Loading what="the profile" />}
      </section>
    );
  }
  return (
    <section>
      <header class="page-head">
        <h1>{p.username}</h1>
        {p.last_checked_at !== null && <StatusBadge status={p.active_story ? 'story_now' : 'no_story_now'} />}
      </header>
      <div class="card">
        <ErrorNote error={profile.error} />
        <ProfileFacts profile={p} />
      </div>
      <StoryTimeline path={path} />
      <Checks path={path} />
    </section>
  );
}

function ProfileFacts({ profile: p }: { profile: ApiProfile }) {
  const niche = useLoad(() => (p.niche_id ? get<ApiNiche>(`/niches/${encodeURIComponent(p.niche_id)}`) : Promise.resolve(null)), [p.niche_id]);
  return (
    <>
      <dl class="stats">
        <Stat label="Checks" value={count(p.total_checks)} />
        <Stat label="Detections" value={count(p.total_detections)} />
        <Stat label="Story now" value={p.last_checked_at === null ? 'not checked yet' : p.active_story ? 'yes' : 'no'} />
      </dl>
      <div class="batch-meta muted">
        <span>
          Niche {p.niche_id ? <Link to={`/profiles?niche=${p.niche_id}`}>{niche.data?.name ?? '…'}</Link> : 'none'}
        </span>
        <span>Last story seen {ago(p.last_story_detected)}</span>
        <span>Last checked {ago(p.last_checked_at)}</span>
        <span>Added {dateTime(p.created_at)}</span>
      </div>
    </>
  );
}

/** When a batch saw the item, linking to that batch (gone when the batch was deleted since). */
function SeenIn({ at, batchId }: { at: string; batchId: string | null }) {
  return batchId ? <Link to={`/batches/${batchId}`}>{dateTime(at)}</Link> : <>{dateTime(at)}</>;
}

function StoryTimeline({ path }: { path: string }) {
  const pager = usePager(path);
  const items = useLoad(() => get<Page<ApiStoryItem>>(`${path}/stories`, { limit: PAGE_SIZE, cursor: pager.cursor }), [path, pager.cursor], 15_000);
  return (
    <section class="card" aria-label="Story timeline">
      <h2>Story timeline</h2>
      <ListTable
        list={items}
        pager={pager}
        what="stories"
        empty="No story seen yet: the checks remember each story item they find."
        label="Story items"
        columns={['Taken', 'Item', 'Media', 'Now', 'Expires', 'Ended', 'First seen', 'Last seen']}
        row={(s) => (
          <tr key={s.item_pk} data-item-pk={s.item_pk}>
            <td class="nowrap">{dateTime(s.taken_at)}</td>
            <td class="mono">{s.item_pk}</td>
            <td>{s.media_type ?? '—'}</td>
            <td>
              <StatusBadge status={s.status} />
            </td>
            <td class="nowrap">{dateTime(s.expiring_at)}</td>
            <td class="nowrap">{s.ended_at ? dateTime(s.ended_at) : '—'}</td>
            <td class="nowrap">
              <SeenIn at={s.first_seen_at} batchId={s.first_seen_batch_id} />
            </td>
            <td class="nowrap">
              <SeenIn at={s.last_seen_at} batchId={s.last_seen_batch_id} />
            </td>
          </tr>
        )}
      />
    </section>
  );
}

function Checks({ path }: { path: string }) {
  const pager = usePager(path);
  const checks = useLoad(() => get<Page<ApiProfileCheck>>(`${path}/checks`, { limit: PAGE_SIZE, cursor: pager.cursor }), [path, pager.cursor], 15_000);
  return (
    <section class="card" aria-label="Checks">
      <h2>Checks</h2>
      <ListTable
        list={checks}
        pager={pager}
        what="checks"
        empty="Not checked yet."
        label="Checks of this profile"
        columns={['Checked', 'Batch', 'Status', 'Story', ['Stories', 'num'], ['Took', 'num'], 'Source', 'Error']}
        row={(c) => (
          <tr key={c.batch_id} data-batch-id={c.batch_id}>
            <td class="nowrap">{dateTime(c.checked_at)}</td>
            <td>
              <Link to={`/batches/${c.batch_id}`}>{c.batch_name ?? 'a batch'}</Link>
            </td>
            <td>
              <StatusBadge status={c.status} />
            </td>
            <td>{c.has_story === null ? '—' : c.has_story ? 'yes' : 'no'}</td>
            <td class="num">{c.story_count ?? '—'}</td>
            <td class="num">{c.duration_ms === null ? '—' : `${c.duration_ms} ms`}</td>
            <td>{c.source ?? '—'}</td>
            <td class="error-text">{c.error ?? ''}</td>
          </tr>
        )}
      />
    </section>
  );
}
