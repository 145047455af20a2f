/**
 * An endpoint's deliveries as the API reads them (the outbox rows and their attempts), and the two deliveries
 * written by code rather than by the event triggers of sql/012: a `ping` (POST /webhooks/:id/test) and a
 * redelivery. Each insert notifies `webhook_deliveries` in its own transaction, as the triggers do, so a
 * worker's dispatcher starts it as soon as it commits instead of at its next look.
 */
import { transaction, type Sql } from '../db/sql.js';
import type { WebhookDeliveryEventType, WebhookDeliveryStatus } from '../enums.js';
import { ConflictError, isUuid, NotFoundError } from './errors.js';
import type { Queryable } from './logs.js';
import { decodeTimeKey, exactTime, toTimeKeyedPage, type Page } from './pagination.js';

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  message_id: string;
  event_type: WebhookDeliveryEventType;
  status: WebhookDeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  redelivery_of: string | null;
  created_at: Date;
  dispatched_at: Date | null;
  finished_at: Date | null;
  /** The body's `data` as of the event (its `seq` is added when the body is fixed). */
  payload: Record<string, unknown>;
}

export interface AttemptRow {
  attempt: number;
  started_at: Date;
  duration_ms: number | null;
  status_code: number | null;
  error: string | null;
  response_snippet: string | null;
}

export interface DeliveryWithAttempts extends DeliveryRow {
  attempt_rows: AttemptRow[];
}

function deliveryColumns(sql: Queryable) {
  return sql`
    d.id, d.webhook_id, d.message_id, d.event_type, d.status, d.attempts, d.last_status_code,
    d.last_error, d.redelivery_of, d.created_at, d.dispatched_at, d.finished_at, d.payload`;
}

const webhookNotFound = (id: string) => new NotFoundError(`webhook ${id} not found`);
const deliveryNotFound = (webhookId: string, id: string) => new NotFoundError(`delivery ${id} of webhook ${webhookId} not found`);

/**
 * The endpoint, locked against a concurrent change for the rest of the transaction: 404 when it does not
 * exist, 409 when it is disabled (the delivery would be cancelled before its first attempt).
 */
async function lockEnabledWebhook(tx: Queryable, webhookId: string): Promise<void> {
  const [row] = await tx<{ enabled: boolean }[]>`select enabled from webhooks where id = ${webhookId} for share`;
  if (!row) throw webhookNotFound(webhookId);
  if (!row.enabled) {
    throw new ConflictError(`webhook ${webhookId} is disabled; enable it first (PATCH with enabled: true)`, { code: 'webhook_disabled' });
  }
}

/** The channel that wakes the dispatchers (the outbox triggers of sql/012_watches_and_webhooks.sql notify it too). */
export const WEBHOOK_DELIVERIES_CHANNEL = 'webhook_deliveries';

/** Wakes the dispatchers once the calling transaction commits. */
async function notifyDispatchers(tx: Queryable): Promise<void> {
  await tx`select pg_notify(${WEBHOOK_DELIVERIES_CHANNEL}, '')`;
}

/** An endpoint's deliveries, newest first, optionally of one status; paged by `[created_at ISO, id]`. */
export async function listDeliveries(
  sql: Sql,
  webhookId: string,
  options: { status?: WebhookDeliveryStatus; limit: number; cursor?: string },
): Promise<Page<DeliveryRow>> {
  if (!isUuid(webhookId)) throw webhookNotFound(webhookId);
  const key = decodeTimeKey(options.cursor, isUuid);
  const [exists] = await sql`select 1 from webhooks where id = ${webhookId}`;
  if (!exists) throw webhookNotFound(webhookId);
  const rows = await sql<Array<DeliveryRow & { key_time: string }>>`
    select ${deliveryColumns(sql)}, ${exactTime(sql, 'd.created_at')} as key_time
    from webhook_deliveries d
    where d.webhook_id = ${webhookId}
      ${options.status ? sql`and d.status = ${options.status}` : sql``}
      ${key ? sql`and (d.created_at, d.id) < (${key[0]}::text::timestamptz, ${key[1]}::uuid)` : sql``}
    order by d.created_at desc, d.id desc
    limit ${options.limit + 1}`;
  return toTimeKeyedPage(rows, options.limit, (r) => r.id);
}

/** One delivery of an endpoint with all its attempts, first first. */
export async function getDelivery(sql: Sql, webhookId: string, deliveryId: string): Promise<DeliveryWithAttempts> {
  if (!isUuid(webhookId) || !isUuid(deliveryId)) throw deliveryNotFound(webhookId, deliveryId);
  const [row] = await sql<DeliveryRow[]>`
    select ${deliveryColumns(sql)} from webhook_deliveries d where d.id = ${deliveryId} and d.webhook_id = ${webhookId}`;
  if (!row) throw deliveryNotFound(webhookId, deliveryId);
  return { ...row, attempt_rows: await deliveryAttempts(sql, deliveryId) };
}

/** Every attempt of a delivery, first first. */
export function deliveryAttempts(sql: Queryable, deliveryId: string): Promise<AttemptRow[]> {
  return sql<AttemptRow[]>`
    select attempt, started_at, duration_ms, status_code, error, response_snippet
    from webhook_delivery_attempts where delivery_id = ${deliveryId}
    order by attempt`;
}

/** A `ping` to an enabled endpoint: `{ webhook_id, message: "ping" }`, delivered like any event. */
export async function insertPing(sql: Sql, webhookId: string): Promise<DeliveryRow> {
  if (!isUuid(webhookId)) throw webhookNotFound(webhookId);
  return transaction(sql, async (tx) => {
    await lockEnabledWebhook(tx, webhookId);
    // serialized here and sent as text: a parameter typed jsonb would be JSON-encoded once more
    const payload = JSON.stringify({ webhook_id: webhookId, message: 'ping' });
    const [row] = await tx<DeliveryRow[]>`
      insert into webhook_deliveries as d (webhook_id, event_type, payload)
      values (${webhookId}, 'ping', ${payload}::text::jsonb)
      returning ${deliveryColumns(tx)}`;
    await notifyDispatchers(tx);
    return row!;
  });
}

/**
 * A new delivery of what `deliveryId` delivered: the same `webhook-id` (message_id), event, references, data
 * and, once fixed, the same body bytes, so a receiver that saw the first one recognises it. The original stays
 * as it was; the new row names it in `redelivery_of`.
 */
export async function redeliver(sql: Sql, webhookId: string, deliveryId: string): Promise<DeliveryRow> {
  if (!isUuid(webhookId) || !isUuid(deliveryId)) throw deliveryNotFound(webhookId, deliveryId);
  return transaction(sql, async (tx) => {
    await lockEnabledWebhook(tx, webhookId);
    const [row] = await tx<DeliveryRow[]>`
      insert into webhook_deliveries as d
        (webhook_id, message_id, event_type, profile_id, item_pk, batch_log_id, batch_id, payload, body, redelivery_of)
      select o.webhook_id, o.message_id, o.event_type, o.profile_id, o.item_pk, o.batch_log_id, o.batch_id, o.payload,
        o.body, o.id
      from webhook_deliveries o
      where o.id = ${deliveryId} and o.webhook_id = ${webhookId}
      returning ${deliveryColumns(tx)}`;
    if (!row) throw deliveryNotFound(webhookId, deliveryId);
    await notifyDispatchers(tx);
    return row;
  });
}
