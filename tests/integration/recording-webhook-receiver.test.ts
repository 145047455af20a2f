/**
 * The receiver that the end-to-end proof and the watch_fanout benchmark count deliveries with
 * (tests/helpers/recording-webhook-receiver.ts) tells a well-signed request from an unsigned one, one signed with another
 * secret and one whose body changed after signing, over real HTTP; and it accepts both signatures of a request
 * signed during a rotation's overlap. Signed here by the product's signing (src/webhooks/secret.ts), checked there
 * by the `standardwebhooks` package.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateWebhookSecret, signedHeaders } from '../../src/webhooks/secret.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/recording-webhook-receiver.js';

let receiver: WebhookReceiver;
const secret = generateWebhookSecret();

beforeAll(async () => {
  receiver = await startWebhookReceiver({ answer: (r) => (r.verified ? 200 : 401) });
  receiver.trust(secret);
});

afterAll(() => receiver?.close());

async function send(body: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  await res.text();
  return res.status;
}

const nowS = () => Math.floor(Date.now() / 1000);
const body = JSON.stringify({ type: 'story.posted', timestamp: new Date().toISOString(), data: { item_pk: '42', seq: 7 } });

it('records a request signed with the trusted secret as verified, with its id, type and data', async () => {
  expect(await send(body, signedHeaders([secret], 'msg_good', nowS(), body))).toBe(200);
  const got = receiver.received.at(-1)!;
  expect(got).toMatchObject({ webhookId: 'msg_good', type: 'story.posted', data: { item_pk: '42', seq: 7 }, verified: true, error: null, status: 200 });
  expect(Math.abs(got.receivedAt.getTime() - Date.now())).toBeLessThan(60_000);
});

it('refuses an unsigned request, another secret, a changed body and an old timestamp', async () => {
  const other = generateWebhookSecret();
  expect(await send(body, { 'webhook-id': 'msg_unsigned' })).toBe(401);
  expect(await send(body, signedHeaders([other], 'msg_other', nowS(), body))).toBe(401);
  expect(await send(body.replace('42', '43'), signedHeaders([secret], 'msg_changed', nowS(), body))).toBe(401);
  expect(await send(body, signedHeaders([secret], 'msg_old', nowS() - 3600, body))).toBe(401);
  const refused = receiver.received.filter((r) => ['msg_unsigned', 'msg_other', 'msg_changed', 'msg_old'].includes(r.webhookId));
  expect(refused.map((r) => r.verified)).toEqual([false, false, false, false]);
  expect(refused.every((r) => r.error)).toBe(true);
});

it('verifies a request signed with a new and an old secret during a rotation, by either one', async () => {
  const rotated = generateWebhookSecret();
  const onlyOld = await startWebhookReceiver();
  try {
    onlyOld.trust(secret);
    receiver.trust(rotated);
    const headers = signedHeaders([rotated, secret], 'msg_rotation', nowS(), body);
    expect(await send(body, headers)).toBe(200);
    const res = await fetch(onlyOld.url, { method: 'POST', headers, body });
    expect(res.status).toBe(200);
    expect(onlyOld.received[0]).toMatchObject({ webhookId: 'msg_rotation', verified: true });
  } finally {
    await onlyOld.close();
  }
});
