/**
 * The benchmark's stopwatch. The worker's dependencies are the product's (`createCheckDependencies`), except
 * that the story client and the pool carry a stopwatch (Probe): the checker is `createChecker` over them, the
 * same code. The stopwatch tells where a scenario's time went (lease held vs upstream answer vs idle).
 */
import { performance } from 'node:perf_hooks';
import type { LeaseResult, ProxyPool } from '../src/pool/pool.js';
import { StoryClient, type ResolvedUser, type StoriesAnswer, type UpstreamTarget } from '../src/upstream/story-client.js';

/** Where the time of a scenario went, from the client's and the pool's side. */
export class Probe {
  requests = 0;
  requestMs = 0;
  leases = 0;
  leaseCallMs = 0;
  holdMs = 0;
  releaseCallMs = 0;
  /** Time requests waited for the send time their proxy's schedule gave them. */
  sendWaitMs = 0;
  readonly #leasedAt = new Map<string, number>();

  leased(holder: string) {
    this.leases++;
    this.#leasedAt.set(holder, performance.now());
  }

  released(holder: string) {
    const at = this.#leasedAt.get(holder);
    if (at !== undefined) this.holdMs += performance.now() - at;
    this.#leasedAt.delete(holder);
  }

  reset() {
    Object.assign(this, { requests: 0, requestMs: 0, leases: 0, leaseCallMs: 0, holdMs: 0, releaseCallMs: 0, sendWaitMs: 0 });
    this.#leasedAt.clear();
  }
}

/** The product's story client with a stopwatch on every call. */
export class BenchStoryClient extends StoryClient {
  constructor(
    options: ConstructorParameters<typeof StoryClient>[0],
    readonly probe: Probe,
  ) {
    super(options);
  }

  async #timed<T>(call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      this.probe.requests++;
      this.probe.requestMs += performance.now() - started;
    }
  }

  override resolveUserId(target: UpstreamTarget, username: string, signal?: AbortSignal): Promise<ResolvedUser> {
    return this.#timed(() => super.resolveUserId(target, username, signal));
  }

  override fetchStories(target: UpstreamTarget, userIds: string[], signal?: AbortSignal, now?: number): Promise<StoriesAnswer> {
    return this.#timed(() => super.fetchStories(target, userIds, signal, now));
  }
}

/** The product's pool with a stopwatch: time in lease/release calls, and how long each lease is held. */
export function timedPool(pool: ProxyPool, probe: Probe): ProxyPool {
  const timed = async <T extends LeaseResult>(call: () => Promise<T>, holder: string): Promise<T> => {
    const started = performance.now();
    const result = await call();
    probe.leaseCallMs += performance.now() - started;
    if (result.ok) probe.leased(holder);
    return result;
  };
  return {
    lease: (holder, opts) => timed(() => pool.lease(holder, opts), holder),
    acquire: (holder, opts) => timed(() => pool.acquire(holder, opts), holder),
    async awaitSendTime(lease, signal) {
      const started = performance.now();
      try {
        await pool.awaitSendTime(lease, signal);
      } finally {
        probe.sendWaitMs += performance.now() - started;
      }
    },
    async release(lease, outcome, context) {
      probe.released(lease.holder);
      const started = performance.now();
      try {
        return await pool.release(lease, outcome, context);
      } finally {
        probe.releaseCallMs += performance.now() - started;
      }
    },
    stats: () => pool.stats(),
    now: () => pool.now(),
  };
}
