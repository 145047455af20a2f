/**
 * Story events as they happen, newest first: a story posted, a story ended. It opens on the newest ones already
 * recorded, then follows the event stream; choosing a niche or a type follows only those.
 */
import { useState } from 'preact/hooks';
import { STORY_EVENT_TYPES, type StoryEventType } from '../../../enums.js';
import { get, type ApiNiche, type ApiStoryEvent, type Page } from '../api.js';
import { DataTable, Empty, ErrorNote, Link, Loading, SelectField } from '../components.js';
import { useStoryEvents } from '../event-feed.js';
import { ExportLinks } from '../export-links.js';
import { dateTime } from '../format.js';
import { useLoad } from '../live.js';

const TYPE_LABELS: Record<StoryEventType, string> = { 'story.posted': 'posted', 'story.ended': 'ended' };

export function EventsPage() {
  const [nicheId, setNicheId] = useState('');
  const [type, setType] = useState('');
  const niches = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 1000 }), []);
  const nicheNames = new Map(niches.data?.items.map((n) => [n.id, n.name]));
  const filters = { niche_id: nicheId || undefined, type: (type || undefined) as StoryEventType | undefined };
  const feed = useStoryEvents(filters);
  return (
    <section>
      <header class="page-head">
        <h1>Events</h1>
        <span class={`badge ${feed.live ? 'badge-live' : 'badge-paused'}`} role="status">
          {feed.live ? 'live' : 'connecting'}
        </span>
      </header>
      <div class="filters">
        <SelectField label="Niche" id="events-niche" value={nicheId} onChange={setNicheId} none="Any" options={(niches.data?.items ?? []).map((n) => [n.id, n.name] as const)} />
        <SelectField label="Event" id="events-type" value={type} onChange={setType} none="Any" options={STORY_EVENT_TYPES.map((t) => [t, `story ${TYPE_LABELS[t]}`] as const)} />
        <ExportLinks path="/events" query={filters} what="events" formats={['ndjson']} />
      </div>
      <ErrorNote error={feed.error} />
      {!feed.loaded && !feed.error && <Loading what="events" />}
      {feed.loaded && feed.events.length === 0 && <Empty>No story event yet{nicheId || type ? ' that matches' : ''}: they appear here as checks find stories posted and ended.</Empty>}
      {feed.events.length > 0 && (
        <DataTable
          label="Story events"
          columns={['Happened', 'Event', 'Profile', 'Niche', 'Item', 'Media', 'Batch', 'Recorded']}
          items={feed.events}
          row={(e) => <EventRow key={e.seq} event={e} niche={e.niche_id ? (nicheNames.get(e.niche_id) ?? '…') : '—'} />}
        />
      )}
    </section>
  );
}

function EventRow({ event: e, niche }: { event: ApiStoryEvent; niche: string }) {
  return (
    <tr data-seq={e.seq}>
      <td class="nowrap">{dateTime(e.occurred_at)}</td>
      <td>
        <span class={`badge badge-${TYPE_LABELS[e.type]}`}>{TYPE_LABELS[e.type]}</span>
      </td>
      <td>
        <Link to={`/profiles/${e.profile_id}`}>{e.username}</Link>
      </td>
      <td>{niche}</td>
      <td class="mono">{e.item_pk}</td>
      <td>{e.details.media_type ?? '—'}</td>
      <td>{e.batch_id ? <Link to={`/batches/${e.batch_id}`}>batch</Link> : '—'}</td>
      <td class="nowrap">{dateTime(e.recorded_at)}</td>
    </tr>
  );
}
