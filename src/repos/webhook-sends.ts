/**
 * The sending side of webhook deliveries, in Postgres: what the dispatcher claims and marks, what one attempt
 * reads before it sends and writes after, and what follows for the endpoint (failing_since, disabling).
 * The routes' side (creating endpoints and secrets, listing deliveries, redelivering) lives elsewhere.
 *
 * Lock order, in every transaction here: the endpoint (webhooks) row, then the delivery row, then its attempt.
 * Nothing here locks two endpoints or two deliveries but the dispatcher's claim, which locks only delivery rows
 * (skip locked), so no two of these transactions wait on each other in a cycle.
 */
import { transaction, type Sql, type Tx } from '../db/sql.js';
import type { WebhookDeliveryEventType, WebhookDeliveryStatus, WebhookDisabledReason } from '../enums.js';
import { registerSecret } from '../logging/redact.js';
import { deliveryBody } from '../webhooks/delivery-body.js';

/** Rows the dispatcher takes at a time. */
export const DISPATCH_BATCH = 100;

/**
 * Fixes the body of each of `ids` that has none: its payload plus the seq its event drew at commit (a ping has
 * no event, and so no seq). The first body fixed wins, so every attempt sends the same bytes; a redelivery
 * already carries the body of the delivery it repeats.
 */
async function fixBodies(sql: Sql | Tx, ids: readonly string[]): Promise<void> {
  const rows = await sql<{ id: string; event_type: WebhookDeliveryEventType; payload: Record<string, unknown>; created_at: Date; seq: number | null }[]>`
    select d.id, d.event_type, d.payload, d.created_at, coalesce(se.seq, bl.seq) as seq
    from webhook_deliveries d
    left join story_events se on se.profile_id = d.profile_id and se.item_pk = d.item_pk and se.type = d.event_type
    left join batch_logs bl on bl.id = d.batch_log_id
    where d.id = any(${ids as string[]}::uuid[]) and d.body is null`;
  if (rows.length === 0) return;
  await sql`
    update webhook_deliveries d set body = f.body
    from unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => deliveryBody(r, r.seq))}::text[]) as f(id, body)
    where d.id = f.id and d.body is null`;
}

/**
 * Claims up to `limit` deliveries no workflow was started for yet (oldest first; rows another dispatcher holds
 * are skipped) and fixes their bodies. Returns the claimed ids; the claim ends with the transaction, so a
 * dispatcher that dies before `markDispatched` leaves them for the next look.
 */
export async function claimUndispatched(sql: Sql, limit = DISPATCH_BATCH): Promise<string[]> {
  return transaction(sql, async (tx) => {
    const rows = await tx<{ id: string }[]>`
      select id from webhook_deliveries
      where dispatched_at is null
      order by created_at, id
      limit ${limit}
      for update skip locked`;
    const ids = rows.map((r) => r.id);
    await fixBodies(tx, ids);
    return ids;
  });
}

/** Marks deliveries whose workflow exists (started now, or by another dispatcher before). */
export async function markDispatched(sql: Sql, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`update webhook_deliveries set dispatched_at = now() where id = any(${ids as string[]}::uuid[]) and dispatched_at is null`;
}

/** A delivery as one attempt needs it: what to send, where, signed with what, and whether it still should. */
export interface DeliveryToSend {
  id: string;
  webhookId: string;
  messageId: string;
  eventType: WebhookDeliveryEventType;
  status: WebhookDeliveryStatus;
  body: string;
  url: string;
  enabled: boolean;
  /** The endpoint's live secrets (no expiry, or one still ahead), the current one first. */
  secrets: string[];
}

/**
 * The delivery with its endpoint and live secrets, or null when it is gone (its endpoint deleted). Fixes the
 * body when no dispatcher did (a delivery started some other way). Every secret read is registered with the
 * redaction, so no log line can show it.
 */
export async function loadDeliveryToSend(sql: Sql, deliveryId: string): Promise<DeliveryToSend | null> {
  const read = () => sql<
    {
      id: string; webhook_id: string; message_id: string; event_type: WebhookDeliveryEventType; status: WebhookDeliveryStatus;
      body: string | null; url: string; enabled: boolean; secrets: string[];
    }[]
  >`
    select d.id, d.webhook_id, d.message_id, d.event_type, d.status, d.body, w.url, w.enabled,
      coalesce((
        select array_agg(s.secret order by s.expires_at is null desc, s.id desc)
        from webhook_secrets s
        where s.webhook_id = w.id and (s.expires_at is null or s.expires_at > now())
      ), '{}') as secrets
    from webhook_deliveries d
    join webhooks w on w.id = d.webhook_id
    where d.id = ${deliveryId}`;
  let [row] = await read();
  if (row && row.body === null) {
    // no dispatcher fixed it (a delivery workflow started some other way)
    await fixBodies(sql, [deliveryId]);
    [row] = await read();
  }
  if (!row) return null;
  for (const secret of row.secrets) registerSecret(secret);
  return {
    id: row.id,
    webhookId: row.webhook_id,
    messageId: row.message_id,
    eventType: row.event_type,
    status: row.status,
    // fixed above when it was not
    body: row.body!,
    url: row.url,
    enabled: row.enabled,
    secrets: row.secrets,
  };
}

/**
 * Records that attempt `attempt` of a delivery has begun (its row shows it even if the worker dies during the
 * request), and counts it on the delivery.
 */
export async function beginAttempt(sql: Sql, deliveryId: string, attempt: number, startedAt: Date): Promise<void> {
  await transaction(sql, async (tx) => {
    await tx`update webhook_deliveries set attempts = greatest(attempts, ${attempt}) where id = ${deliveryId}`;
    await tx`
      insert into webhook_delivery_attempts (delivery_id, attempt, started_at)
      values (${deliveryId}, ${attempt}, ${startedAt})
      on conflict (delivery_id, attempt) do update set started_at = excluded.started_at,
        duration_ms = null, status_code = null, error = null, response_snippet = null`;
  });
}

/** How one attempt ended, as the engine judges it. */
export type AttemptVerdict = 'delivered' | 'gone' | 'failed_attempt';

export interface AttemptRecord {
  deliveryId: string;
  webhookId: string;
  attempt: number;
  verdict: AttemptVerdict;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  snippet: string | null;
  /** When the attempt happened: starts an endpoint's failing_since, and is compared with it. */
  at: Date;
  /** Whether no attempt follows this one if it fails (the retry policy's last). */
  last: boolean;
  /** WEBHOOK_DISABLE_AFTER_MS: an endpoint failing this long is disabled. */
  disableAfterMs: number;
}

export interface AttemptResult {
  /** The delivery's status after this attempt (pending: another attempt follows). */
  status: WebhookDeliveryStatus;
  /** Set when this attempt disabled the endpoint. */
  disabled: WebhookDisabledReason | null;
}

/** The endpoint's side of an attempt: failing_since set or cleared, and the endpoint disabled when due. */
async function updateEndpoint(tx: Tx, r: AttemptRecord): Promise<WebhookDisabledReason | null> {
  const [endpoint] = await tx<{ enabled: boolean; failing_since: Date | null }[]>`
    select enabled, failing_since from webhooks where id = ${r.webhookId} for no key update`;
  if (!endpoint) return null;
  if (r.verdict === 'delivered') {
    if (endpoint.failing_since) await tx`update webhooks set failing_since = null where id = ${r.webhookId}`;
    return null;
  }
  const failingSince = endpoint.failing_since ?? r.at;
  const disable: WebhookDisabledReason | null = !endpoint.enabled
    ? null
    : r.verdict === 'gone'
      ? 'gone'
      : r.at.getTime() - failingSince.getTime() >= r.disableAfterMs
        ? 'failing'
        : null;
  if (disable) {
    await tx`
      update webhooks set enabled = false, disabled_reason = ${disable}, disabled_at = now(), failing_since = ${failingSince},
        updated_at = now()
      where id = ${r.webhookId}`;
  } else if (!endpoint.failing_since) {
    await tx`update webhooks set failing_since = ${failingSince} where id = ${r.webhookId}`;
  }
  return disable;
}

/**
 * Records how an attempt ended, in one transaction: the attempt's row, the delivery (delivered, failed when
 * the endpoint answered 410 or this was the last attempt or the endpoint was disabled now, else still
 * pending), and the endpoint: a success clears failing_since; a failure sets it if unset and disables the
 * endpoint (`failing`) once it has failed for WEBHOOK_DISABLE_AFTER_MS; a 410 disables it (`gone`).
 */
export async function recordAttempt(sql: Sql, r: AttemptRecord): Promise<AttemptResult> {
  return transaction(sql, async (tx) => {
    const disabled = await updateEndpoint(tx, r);
    const status: WebhookDeliveryStatus =
      r.verdict === 'delivered' ? 'delivered' : r.verdict === 'gone' || r.last || disabled ? 'failed' : 'pending';
    const [delivery] = await tx<{ status: WebhookDeliveryStatus }[]>`
      update webhook_deliveries set
        status = case when status = 'pending' then ${status} else status end,
        finished_at = case when status = 'pending' and ${status} <> 'pending' then now() else finished_at end,
        last_status_code = ${r.statusCode}, last_error = ${r.error}, attempts = greatest(attempts, ${r.attempt})
      where id = ${r.deliveryId}
      returning status`;
    await tx`
      insert into webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_snippet)
      values (${r.deliveryId}, ${r.attempt}, ${r.at}, ${r.durationMs}, ${r.statusCode}, ${r.error}, ${r.snippet})
      on conflict (delivery_id, attempt) do update set duration_ms = excluded.duration_ms, status_code = excluded.status_code,
        error = excluded.error, response_snippet = excluded.response_snippet`;
    return { status: delivery?.status ?? status, disabled };
  });
}

/**
 * Ends a delivery that is still pending: `cancelled` (its endpoint disabled: nothing more is sent) or `failed`
 * (its attempts ran out). Returns whether it was still pending.
 */
export async function finishPendingDelivery(sql: Sql, deliveryId: string, status: 'cancelled' | 'failed'): Promise<boolean> {
  const rows = await sql`
    update webhook_deliveries set status = ${status}, finished_at = now()
    where id = ${deliveryId} and status = 'pending' returning id`;
  return rows.length > 0;
}
