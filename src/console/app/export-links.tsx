/**
 * Download links for a whole list as CSV and NDJSON: the list's own route and filters with `format=`, streamed by
 * the server as a file. Plain links: the sign-in cookie authenticates them like the page's own requests.
 */
import { withQuery, type Query } from './api.js';

type Format = 'csv' | 'ndjson';
const LABELS: Record<Format, string> = { csv: 'CSV', ndjson: 'NDJSON' };

export function ExportLinks(props: { path: string; query: Query; what: string; formats?: readonly Format[] }) {
  return (
    <div class="exports" role="group" aria-label={`Export ${props.what}`}>
      <span class="muted">Export</span>
      {(props.formats ?? (['csv', 'ndjson'] as const)).map((format) => (
        <a key={format} class="btn btn-plain" href={withQuery(props.path, { ...props.query, format })} download>
          {LABELS[format]}
        </a>
      ))}
    </div>
  );
}
