/**
 * Webhook endpoints as stored, with their signing secrets (docs/api.md, "Webhooks"). A secret is generated
 * here, returned once by `createWebhook` and `rotateWebhookSecret` for the API to show, registered with the
 * redaction, and never read back by anything in this module: the rows it returns carry no secret.
 *
 * The shape of each field is the route schemas' to check (src/api/webhook-schemas.ts); where a URL may point
 * (WEBHOOK_ALLOW_HOSTS) and whether a niche exists are checked here, where the endpoint is stored.
 */
import { transaction, type Sql } from '../db/sql.js';
import type { WebhookDisabledReason, WebhookEventType } from '../enums.js';
import { registerSecret } from '../logging/redact.js';
import { generateWebhookSecret } from '../webhooks/secret.js';
import { webhookUrlProblem } from '../webhooks/target-url.js';
import { isUuid, NotFoundError, pgCode, PG_FOREIGN_KEY_VIOLATION, ValidationError } from './errors.js';
import type { Queryable } from './logs.js';
import { decodeTimeKey, exactTime, toTimeKeyedPage, type Page } from './pagination.js';

export interface WebhookRow {
  id: string;
  url: string;
  events: WebhookEventType[];
  niche_id: string | null;
  description: string | null;
  enabled: boolean;
  disabled_reason: WebhookDisabledReason | null;
  disabled_at: Date | null;
  failing_since: Date | null;
  /** When the current secret replaced another (null while the first one signs). */
  secret_rotated_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** An endpoint together with the secret just generated for it: the only time a secret leaves this module. */
export interface WebhookWithSecret {
  webhook: WebhookRow;
  secret: string;
}

export interface WebhookInput {
  url: string;
  events: readonly WebhookEventType[];
  nicheId?: string | null;
  description?: string | null;
}

export interface WebhookPatch {
  url?: string;
  events?: readonly WebhookEventType[];
  nicheId?: string | null;
  description?: string | null;
  enabled?: boolean;
}

/** Hosts that may be reached over http or at a non-public address (WEBHOOK_ALLOW_HOSTS). */
export interface WebhookRules {
  allowHosts: readonly string[];
}

/** The columns of a WebhookRow; the current secret's age tells whether it came from a rotation. */
function webhookColumns(sql: Queryable) {
  // the first secret is inserted in the transaction that inserts the endpoint (same now()), so a current secret
  // younger than the endpoint is a rotation's
  return sql`
    w.id, w.url, w.events, w.niche_id, w.description, w.enabled, w.disabled_reason, w.disabled_at, w.failing_since,
    w.created_at, w.updated_at,
    (select case when s.created_at > w.created_at then s.created_at end
       from webhook_secrets s where s.webhook_id = w.id and s.expires_at is null
       order by s.id desc limit 1) as secret_rotated_at`;
}

/** Where an endpoint may point (WEBHOOK_ALLOW_HOSTS), which no schema can say: a 400 naming the url otherwise. */
function checkUrl(url: string, rules: WebhookRules): string {
  const problem = webhookUrlProblem(url, rules.allowHosts);
  if (problem) throw new ValidationError(`url ${problem}`, { field: 'url' });
  return url;
}

const unknownNiche = (nicheId: unknown) =>
  new ValidationError(`niche ${String(nicheId)} does not exist`, { field: 'niche_id', niche_id: nicheId });

/** An unknown niche reaches Postgres as a foreign key violation: said as the caller's mistake. */
async function withNicheCheck<T>(nicheId: string | null | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) throw unknownNiche(nicheId);
    throw err;
  }
}

async function readWebhook(sql: Queryable, id: string): Promise<WebhookRow> {
  const [row] = await sql<WebhookRow[]>`select ${webhookColumns(sql)} from webhooks w where w.id = ${id}`;
  if (!row) throw new NotFoundError(`webhook ${id} not found`);
  return row;
}

/** A new secret, stored for `webhookId` as its current one and registered with the redaction. */
async function insertSecret(sql: Queryable, webhookId: string): Promise<string> {
  const secret = generateWebhookSecret();
  registerSecret(secret);
  await sql`insert into webhook_secrets (webhook_id, secret) values (${webhookId}, ${secret})`;
  return secret;
}

/** Stores an endpoint and its first secret in one transaction. */
export async function createWebhook(sql: Sql, input: WebhookInput, rules: WebhookRules): Promise<WebhookWithSecret> {
  const url = checkUrl(input.url, rules);
  const nicheId = input.nicheId ?? null;
  const description = input.description ?? null;
  const events = input.events;
  return withNicheCheck(nicheId, () =>
    transaction(sql, async (tx) => {
      const [inserted] = await tx<{ id: string }[]>`
        insert into webhooks (url, events, niche_id, description)
        values (${url}, ${events}::text[], ${nicheId}, ${description})
        returning id`;
      const secret = await insertSecret(tx, inserted!.id);
      return { webhook: await readWebhook(tx, inserted!.id), secret };
    }),
  );
}

export async function getWebhook(sql: Queryable, id: string): Promise<WebhookRow> {
  if (!isUuid(id)) throw new NotFoundError(`webhook ${id} not found`);
  return readWebhook(sql, id);
}

/** Endpoints, newest first, paged by `[created_at ISO, id]` as the batches are. */
export async function listWebhooks(sql: Sql, options: { limit: number; cursor?: string }): Promise<Page<WebhookRow>> {
  const key = decodeTimeKey(options.cursor, isUuid);
  const rows = await sql<Array<WebhookRow & { key_time: string }>>`
    select ${webhookColumns(sql)}, ${exactTime(sql, 'w.created_at')} as key_time
    from webhooks w
    ${key ? sql`where (w.created_at, w.id) < (${key[0]}::text::timestamptz, ${key[1]}::uuid)` : sql``}
    order by w.created_at desc, w.id desc
    limit ${options.limit + 1}`;
  return toTimeKeyedPage(rows, options.limit, (r) => r.id);
}

/**
 * Changes an endpoint. Enabling a disabled one clears why it was disabled and since when it was failing, so
 * it gets a fresh WEBHOOK_DISABLE_AFTER_MS; disabling one is an operator's decision (reason `operator`), which
 * only an operator undoes.
 */
export async function updateWebhook(sql: Sql, id: string, patch: WebhookPatch, rules: WebhookRules): Promise<WebhookRow> {
  if (!isUuid(id)) throw new NotFoundError(`webhook ${id} not found`);
  const url = patch.url === undefined ? undefined : checkUrl(patch.url, rules);
  const { events, nicheId, description } = patch;
  const enabled =
    patch.enabled === undefined
      ? sql``
      : patch.enabled
        ? sql`, enabled = true, disabled_reason = null, disabled_at = null,
              failing_since = case when enabled then failing_since end`
        : sql`, enabled = false, disabled_reason = 'operator', disabled_at = coalesce(disabled_at, now())`;
  return withNicheCheck(patch.nicheId, () =>
    transaction(sql, async (tx) => {
      const [updated] = await tx<{ id: string }[]>`
        update webhooks set updated_at = now()
          ${url === undefined ? tx`` : tx`, url = ${url}`}
          ${events === undefined ? tx`` : tx`, events = ${events}::text[]`}
          ${nicheId === undefined ? tx`` : tx`, niche_id = ${nicheId}`}
          ${description === undefined ? tx`` : tx`, description = ${description}`}
          ${enabled}
        where id = ${id}
        returning id`;
      if (!updated) throw new NotFoundError(`webhook ${id} not found`);
      return readWebhook(tx, id);
    }),
  );
}

/** Removes an endpoint, its secrets and its deliveries (a running delivery finds it gone and stops). */
export async function deleteWebhook(sql: Sql, id: string): Promise<void> {
  if (!isUuid(id)) throw new NotFoundError(`webhook ${id} not found`);
  const [row] = await sql<{ id: string }[]>`delete from webhooks where id = ${id} returning id`;
  if (!row) throw new NotFoundError(`webhook ${id} not found`);
}

/**
 * A new current secret. Every older secret still live signs beside it for at most `overlapMs` more (never
 * longer than it already would), so a receiver can switch within that time without refusing a request;
 * secrets already expired are deleted.
 */
export async function rotateWebhookSecret(sql: Sql, id: string, overlapMs: number): Promise<WebhookWithSecret> {
  if (!isUuid(id)) throw new NotFoundError(`webhook ${id} not found`);
  return transaction(sql, async (tx) => {
    const [found] = await tx<{ id: string }[]>`
      update webhooks set updated_at = now() where id = ${id} returning id`;
    if (!found) throw new NotFoundError(`webhook ${id} not found`);
    await tx`delete from webhook_secrets where webhook_id = ${id} and expires_at <= now()`;
    await tx`
      update webhook_secrets
      set expires_at = least(coalesce(expires_at, 'infinity'), now() + ${overlapMs} * interval '1 millisecond')
      where webhook_id = ${id}`;
    const secret = await insertSecret(tx, id);
    return { webhook: await readWebhook(tx, id), secret };
  });
}
