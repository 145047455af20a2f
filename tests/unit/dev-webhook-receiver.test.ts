// The local receiver of `npm run dev`, over real HTTP: it verifies what storycheck signs, refuses what it did not
// sign, accepts either secret during a rotation, and lists what it got.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../../src/dev/webhook-receiver.js';
import { generateWebhookSecret, signedHeaders } from '../../src/webhooks/secret.js';

let receiver: WebhookReceiver;
const logged: ReceivedWebhook[] = [];
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  receiver = await startWebhookReceiver({ host: '127.0.0.1', keep: 4, onReceived: (r) => logged.push(r) });
});

afterAll(async () => {
  await receiver?.close();
});

async function send(body: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  await res.arrayBuffer();
  return res.status;
}

const ping = (id: string) => JSON.stringify({ type: 'ping', timestamp: new Date().toISOString(), data: { message: 'ping', id } });

describe('the local webhook receiver', () => {
  it('answers 204 to a request signed with its secret and 401 to one unsigned or signed with another', async () => {
    const secret = generateWebhookSecret();
    receiver.setSecrets([secret]);
    const body = ping('a');
    expect(await send(body, signedHeaders([secret], 'msg_good', now(), body))).toBe(204);
    expect(await send(body, {})).toBe(401);
    expect(await send(body, signedHeaders([generateWebhookSecret()], 'msg_other', now(), body))).toBe(401);
    // a body changed after signing does not verify
    expect(await send(ping('changed'), signedHeaders([secret], 'msg_changed', now(), body))).toBe(401);

    const [changed, other, unsigned, good] = receiver.received();
    expect(good).toMatchObject({ webhook_id: 'msg_good', type: 'ping', verified: true, body: { data: { id: 'a' } } });
    expect(unsigned).toMatchObject({ webhook_id: null, type: 'ping', verified: false });
    expect(other).toMatchObject({ webhook_id: 'msg_other', verified: false });
    expect(changed).toMatchObject({ webhook_id: 'msg_changed', verified: false });
    expect(logged.slice(-4).map((r) => r.verified)).toEqual([true, false, false, false]);
  });

  it('verifies a request signed with the old and the new secret during a rotation, holding either one', async () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const body = ping('rotation');
    const headers = signedHeaders([newSecret, oldSecret], 'msg_rotation', now(), body);
    receiver.setSecrets([oldSecret]);
    expect(await send(body, headers)).toBe(204);
    receiver.setSecrets([newSecret]);
    expect(await send(body, headers)).toBe(204);
    receiver.setSecrets([]);
    expect(await send(body, headers)).toBe(401);
  });

  it('lists what it got at GET /, newest first, keeping the last few, and never shows a secret', async () => {
    const secret = generateWebhookSecret();
    receiver.setSecrets([secret]);
    for (const id of ['x1', 'x2', 'x3', 'x4', 'x5']) {
      const body = ping(id);
      expect(await send(body, signedHeaders([secret], `msg_${id}`, now(), body))).toBe(204);
    }
    const res = await fetch(receiver.viewUrl);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(secret.slice('whsec_'.length));
    const { items } = JSON.parse(text) as { items: ReceivedWebhook[] };
    expect(items.map((r) => r.webhook_id)).toEqual(['msg_x5', 'msg_x4', 'msg_x3', 'msg_x2']);
    expect(items.every((r) => r.verified)).toBe(true);
  });

  it('keeps a body that is not JSON as text, unverified without a signature', async () => {
    expect(await send('not json', {})).toBe(401);
    expect(receiver.received()[0]).toMatchObject({ type: null, verified: false, body: 'not json' });
  });
});
