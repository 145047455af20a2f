// What `npm run dev` prints once it is up: the dashboard first, and about the demo batch only what will happen.
import { describe, expect, it } from 'vitest';
import { renderBanner, type BannerInfo, type DemoBatchInfo } from '../../src/dev/banner.js';

const API = 'http://127.0.0.1:3000';
const DEMO_ID = '0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21';
const OTHER_ID = '5d0c3a1e-7b2f-4c8d-9e6a-1f2b3c4d5e6f';

function info(overrides: Partial<BannerInfo> = {}, demo: Partial<DemoBatchInfo> | null = {}): BannerInfo {
  return {
    apiUrl: API,
    apiKeySet: false,
    temporalAddress: '127.0.0.1:7233',
    namespace: 'default',
    taskQueue: 'storycheck',
    uiUrl: 'http://127.0.0.1:8233',
    simulatorUrl: 'http://127.0.0.1:4100',
    proxyUrls: ['http://127.0.0.1:4201'],
    databaseUrl: 'postgres://postgres:secret@127.0.0.1:5432/storycheck',
    dataDir: '/tmp/data',
    queueHeld: false,
    runningBatchId: null,
    demoBatch: demo && { id: DEMO_ID, totalProfiles: 302, created: true, status: 'queued', position: 1, ...demo },
    ...overrides,
  };
}

const lines = (text: string) => text.split('\n');
const RESUME_QUEUE = `curl -s -X POST ${API}/queue/resume`;

describe('renderBanner', () => {
  it('shows the dashboard address first, right after the title and before the API', () => {
    const out = lines(renderBanner(info()));
    const title = out.indexOf('storycheck is running');
    expect(title).toBeGreaterThanOrEqual(0);
    expect(out[title + 1]).toBe(`  Dashboard  ${API}/`);
    expect(out[title + 2]).toMatch(new RegExp(`^  API +${API}$`));
  });

  it('says "created and started" for a new demo batch at the head of a running queue', () => {
    const queued = renderBanner(info());
    expect(queued).toContain(`Demo batch ${DEMO_ID} (302 profiles) created and started.`);
    expect(queued).not.toContain('/queue/resume');
    expect(queued).not.toContain(`/batches/${DEMO_ID}/resume`);
    // claimed already by the time the banner is printed
    const running = renderBanner(info({ runningBatchId: DEMO_ID }, { status: 'running', position: 0 }));
    expect(running).toContain('created and started.');
  });

  it('says an earlier demo batch carries on, where it is', () => {
    const running = renderBanner(info({ runningBatchId: DEMO_ID }, { created: false, status: 'running', position: 0 }));
    expect(running).toContain(`Demo batch ${DEMO_ID} (302 profiles) was already running; it carries on.`);
    expect(running).not.toContain('created and started');
    const queued = renderBanner(info({}, { created: false, status: 'queued', position: 2 }));
    expect(queued).toContain('was already queued (place 2); it carries on.');
  });

  it('says a new demo batch waits while another batch runs, not that it started', () => {
    const out = renderBanner(info({ runningBatchId: OTHER_ID }, { status: 'queued', position: 1 }));
    expect(out).not.toContain('created and started');
    expect(out).toContain(`Demo batch ${DEMO_ID} (302 profiles) created; it waits in the queue (place 1) until batch ${OTHER_ID}`);
  });

  it('says the demo batch waits behind a held queue, with the command and the button that resume it', () => {
    for (const demo of [{}, { created: false }, { created: false, status: 'running' as const, position: 0 }]) {
      const out = renderBanner(info({ queueHeld: true, runningBatchId: demo.status ? DEMO_ID : null }, demo));
      expect(out).not.toContain('created and started');
      expect(out).not.toContain('carries on');
      expect(out).toContain('it waits behind a held queue: nothing runs until the queue is resumed.');
      expect(out).toContain(`  Resume the queue: ${RESUME_QUEUE}  (or the Resume queue button on the dashboard)`);
    }
    expect(renderBanner(info({ queueHeld: true }))).toContain(`Demo batch ${DEMO_ID} (302 profiles) created, but it waits behind a held queue`);
  });

  it('adds the Authorization header to the resume commands when API_KEY is set', () => {
    const held = renderBanner(info({ queueHeld: true, apiKeySet: true }));
    expect(held).toContain(`curl -s -H "Authorization: Bearer $API_KEY" -X POST ${API}/queue/resume`);
    expect(held).not.toContain(RESUME_QUEUE);
    const paused = renderBanner(info({ apiKeySet: true }, { created: false, status: 'paused', position: null }));
    expect(paused).toContain(`curl -s -H "Authorization: Bearer $API_KEY" -X POST ${API}/batches/${DEMO_ID}/resume`);
  });

  it('says an earlier demo batch is paused and how to resume it, and the queue too when it is held', () => {
    const out = renderBanner(info({}, { created: false, status: 'paused', position: null }));
    expect(out).toContain(`Demo batch ${DEMO_ID} (302 profiles) already existed and is paused, outside the queue: it does not run until it is resumed.`);
    expect(out).toContain(`  Resume it: curl -s -X POST ${API}/batches/${DEMO_ID}/resume`);
    expect(out).not.toContain('created and started');
    expect(out).not.toContain('/queue/resume');

    const held = renderBanner(info({ queueHeld: true }, { created: false, status: 'paused', position: null }));
    expect(held).toContain(`/batches/${DEMO_ID}/resume`);
    expect(held).toContain('The queue is held as well');
    expect(held).toContain(RESUME_QUEUE);
  });

  it('without a demo batch, still says when the queue is held', () => {
    const open = renderBanner(info({}, null));
    expect(open).not.toContain('Demo batch');
    expect(open).not.toContain('/queue/resume');
    const held = renderBanner(info({ queueHeld: true }, null));
    expect(held).toContain('The queue is held: no batch runs until it is resumed.');
    expect(held).toContain(RESUME_QUEUE);
  });

  it('says how to switch the simulator to the realistic profile, and back', () => {
    const friendly = lines(renderBanner(info()));
    const hint = friendly.filter((l) => l.includes('SIM_PROFILE'));
    expect(hint).toEqual([expect.stringContaining('SIM_PROFILE=realistic SIM_TIME_SCALE=60 npm run dev')]);
    expect(friendly.indexOf(hint[0]!)).toBeLessThan(friendly.indexOf('Try:'));

    const realistic = renderBanner(info({ simulatorProfile: 'realistic' }));
    expect(realistic).toContain('The simulator plays the real source');
    expect(realistic).toContain('npm run dev without SIM_PROFILE');
    expect(realistic).not.toContain('SIM_PROFILE=realistic');
  });

  it('says where an embedded Postgres keeps its data, and where its binaries run from when they are a shared copy', () => {
    const postgresLine = (overrides: Partial<BannerInfo>) => lines(renderBanner(info(overrides))).find((l) => l.startsWith('  Postgres'));
    expect(postgresLine({})).toBe('  Postgres   postgres://***@127.0.0.1:5432/storycheck');
    expect(postgresLine({ postgresDataDir: '/tmp/data/postgres' })).toMatch(/\(embedded, data in \/tmp\/data\/postgres\)$/);
    expect(postgresLine({ postgresDataDir: '/var/lib/storycheck/x/data', postgresBinariesDir: '/var/cache/storycheck/pg' })).toMatch(
      /\(embedded, data in \/var\/lib\/storycheck\/x\/data, binaries in \/var\/cache\/storycheck\/pg\)$/,
    );
  });

  it('keeps the commands to try and no secret', () => {
    const out = renderBanner(info());
    expect(out).toContain(`curl -sN ${API}/batches/${DEMO_ID}/events`);
    expect(out).toContain(`${API}/docs`);
    expect(out).not.toContain('secret');
  });

  describe('with the local webhook receiver', () => {
    const WATCH_ID = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const HOOK_ID = '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9';
    const RECEIVER = 'http://127.0.0.1:41234/';
    const webhooks = { receiverUrl: RECEIVER, webhookId: HOOK_ID, watch: { id: WATCH_ID, niche: 'fashion', everyS: 60, created: true, paused: false } };

    it('says where deliveries show: the Webhooks page, the receiver, and the deliveries route', () => {
      const out = renderBanner(info({ webhooks }));
      expect(lines(out)).toContain(`  Receiver   ${RECEIVER}  (the local webhook receiver)`);
      expect(out).toContain(`Demo watch ${WATCH_ID} re-checks niche fashion every 60 s (created); see it on ${API}/#/watches`);
      expect(out).toContain(`  ${API}/#/webhooks`);
      expect(out).toContain(`  ${RECEIVER}  (what the receiver got`);
      expect(out).toContain(`curl -s ${API}/webhooks/${HOOK_ID}/deliveries`);
      expect(out).not.toContain('secret');
    });

    it('says when the demo watch is an earlier run\'s, paused, and leaves out what could not be made', () => {
      const kept = renderBanner(info({ webhooks: { ...webhooks, watch: { ...webhooks.watch, created: false, paused: true } } }));
      expect(kept).toContain('every 60 s (kept from an earlier run, paused)');
      const none = renderBanner(info({ webhooks: { receiverUrl: RECEIVER, webhookId: null, watch: null } }));
      expect(none).not.toContain('Demo watch');
      expect(none).not.toContain('Demo webhook');
      expect(none).toContain(`  Receiver   ${RECEIVER}`);
      expect(renderBanner(info({ apiKeySet: true, webhooks }))).toContain(`curl -s -H "Authorization: Bearer $API_KEY" ${API}/webhooks/${HOOK_ID}/deliveries`);
    });
  });
});
