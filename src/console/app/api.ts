/**
 * The page's one way to the server: the same JSON routes and validation as any API client, authenticated by
 * the sign-in cookie, with the CSRF token on every change. Every failure becomes an ApiError whose message a
 * person can read: the API's own error message, or a sentence for a lost connection.
 */
import type { ApiStoryEvent } from '../../api/present.js';

// the API's own shapes, as the routes present them
export type {
  ApiBatch,
  ApiBatchProfile,
  ApiCreatedProfiles,
  ApiLog,
  ApiNiche,
  ApiProfile,
  ApiProfileCheck,
  ApiProxy,
  ApiQueue,
  ApiSession,
  ApiStoryEvent,
  ApiStoryItem,
} from '../../api/present.js';
export type { ConsoleSessionInfo } from '../routes.js';
export type { ApiAttempt, ApiDelivery, ApiDeliveryDetail, ApiWebhook, ApiWebhookWithSecret } from '../../api/webhook-present.js';
export type { ApiWatch } from '../../api/present-watch.js';

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** A page of `GET /events`: events after `after`, in seq order; the next page is after `next_after`. */
export interface EventPage {
  items: ApiStoryEvent[];
  next_after: number;
  has_more: boolean;
}

/** One field's complaint from a 400 validation_error (`details.issues[].path`, `details.field`, or the invalid usernames). */
export interface FieldIssue {
  path: string;
  message: string;
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    /** 0 when the server could not be reached at all. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  /** The issues of a validation error, by the first segment of their path (`usernames.3` → `usernames`). */
  fieldIssues(): Map<string, string> {
    const byField = new Map<string, string>();
    const details = this.details as { issues?: FieldIssue[]; invalid_usernames?: string[]; field?: unknown } | undefined;
    for (const issue of details?.issues ?? []) {
      const field = issue.path.split('.')[0] || '';
      if (!byField.has(field)) byField.set(field, issue.message);
    }
    if (details?.invalid_usernames) byField.set('usernames', this.message);
    // a rule checked past the request's schema names its one field (a webhook's url, a watch's cron)
    if (typeof details?.field === 'string' && !byField.has(details.field)) byField.set(details.field, this.message);
    return byField;
  }
}

let csrfToken: string | null = null;
let onSignedOut: () => void = () => {};

export function configureApi(options: { csrfToken: string | null; onSignedOut: () => void }): void {
  csrfToken = options.csrfToken;
  onSignedOut = options.onSignedOut;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached: check that storycheck is running and try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: a proxy's error page, say; described below by its status
  }
  if (!res.ok) {
    const error = (data as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    if (res.status === 401) onSignedOut();
    throw new ApiError(res.status, error?.code ?? `http_${res.status}`, error?.message ?? `The server answered ${res.status} ${res.statusText}.`, error?.details);
  }
  return data as T;
}

export const get = <T>(path: string, query?: Query) => request<T>('GET', withQuery(path, query));
export const post = <T>(path: string, body?: unknown) => request<T>('POST', path, body);
export const patch = <T>(path: string, body?: unknown) => request<T>('PATCH', path, body);
export const del = (path: string) => request<void>('DELETE', path);

/** What to tell a person about a failure, in a sentence or two. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong in this page. Reload it; if it happens again, the server log says more.';
  if (err.code === 'batch_running') return `Another batch is running. Pause it, or wait until it ends, then try again. (${err.message})`;
  if (err.status === 503) return `${err.message} The page keeps trying.`;
  if (err.status === 401) return 'You are signed out. Enter the API key again.';
  return err.message.charAt(0).toUpperCase() + err.message.slice(1);
}
