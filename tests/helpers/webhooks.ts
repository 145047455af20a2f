/**
 * Webhook rows for tests, written with plain SQL as the product's tables hold them: endpoints and their
 * secrets, and outbox rows made the real way (a story event whose trigger writes them, or a ping). Also what the
 * tests read back: a delivery, its attempts, its endpoint.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../src/db/sql.js';
import { WEBHOOK_EVENT_TYPES, type WebhookDeliveryStatus, type WebhookDisabledReason, type WebhookEventType } from '../../src/enums.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { insertPing as pingDelivery } from '../../src/repos/webhook-deliveries.js';
import { generateWebhookSecret } from '../../src/webhooks/secret.js';

export interface TestWebhook {
  id: string;
  secret: string;
}

/** An enabled endpoint with one current secret. */
export async function insertWebhook(
  sql: Sql,
  url: string,
  events: WebhookEventType[] = [...WEBHOOK_EVENT_TYPES],
): Promise<TestWebhook> {
  const secret = generateWebhookSecret();
  const [row] = await sql<{ id: string }[]>`insert into webhooks (url, events) values (${url}, ${events}) returning id`;
  await insertSecret(sql, row!.id, secret);
  return { id: row!.id, secret };
}

/** Another secret of an endpoint (a rotation's new one has no expiry; the old one gets `expiresAt`). */
export async function insertSecret(sql: Sql, webhookId: string, secret: string, expiresAt: Date | null = null): Promise<void> {
  await sql`insert into webhook_secrets (webhook_id, secret, expires_at) values (${webhookId}, ${secret}, ${expiresAt})`;
}

/** A ping delivery, through POST /webhooks/:id/test's own repository call (the NOTIFY included). */
export async function insertPing(sql: Sql, webhookId: string): Promise<string> {
  return (await pingDelivery(sql, webhookId)).id;
}

/**
 * A story.posted event of a new profile, inserted as the checker records one: the outbox trigger writes a
 * delivery for every matching endpoint in the same transaction. Gives the event's seq and those deliveries.
 */
export async function insertStoryPosted(sql: Sql): Promise<{ profileId: string; itemPk: string; deliveries: { id: string; webhook_id: string }[]; seq: number }> {
  const username = `wh_${randomUUID().slice(0, 12).replace(/-/g, '')}`;
  const { items } = await upsertProfiles(sql, [username]);
  const profileId = items[0]!.id;
  const itemPk = String(Date.now()) + String(Math.floor(Math.random() * 1000));
  const details = { taken_at: new Date().toISOString(), expiring_at: new Date(Date.now() + 86_400_000).toISOString(), media_type: 'image' };
  await sql`
    insert into story_events (type, profile_id, item_pk, occurred_at, details)
    values ('story.posted', ${profileId}, ${itemPk}, now(), ${sql.json(details)})`;
  const [event] = await sql<{ seq: number }[]>`
    select seq from story_events where profile_id = ${profileId} and item_pk = ${itemPk} and type = 'story.posted'`;
  const deliveries = await sql<{ id: string; webhook_id: string }[]>`
    select id, webhook_id from webhook_deliveries where profile_id = ${profileId} and item_pk = ${itemPk} order by id`;
  return { profileId, itemPk, deliveries, seq: event!.seq };
}

export interface DeliveryRow {
  id: string;
  message_id: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  body: string | null;
  dispatched_at: Date | null;
  finished_at: Date | null;
}

export async function deliveryRow(sql: Sql, id: string): Promise<DeliveryRow | undefined> {
  const [row] = await sql<DeliveryRow[]>`
    select id, message_id, status, attempts, last_status_code, last_error, body, dispatched_at, finished_at
    from webhook_deliveries where id = ${id}`;
  return row;
}


export interface EndpointRow {
  enabled: boolean;
  disabled_reason: WebhookDisabledReason | null;
  disabled_at: Date | null;
  failing_since: Date | null;
}

export async function endpointRow(sql: Sql, webhookId: string): Promise<EndpointRow | undefined> {
  const [row] = await sql<EndpointRow[]>`select enabled, disabled_reason, disabled_at, failing_since from webhooks where id = ${webhookId}`;
  return row;
}
