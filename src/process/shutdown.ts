/**
 * The stop steps of a process that starts several things (the dev launcher, the benchmark): each thing
 * registers how to stop it as it starts, and they are stopped in the reverse order, each step with its own
 * deadline so that one stuck step cannot keep the rest from running.
 */
import { TimeLimitExceeded, withTimeout } from './timeouts.js';

/** A signal this soon after the first is the same Ctrl-C delivered twice, not a second one. */
export const DUPLICATE_SIGNAL_MS = 2_000;

export interface ShutdownReporter {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export class Shutdown {
  readonly #steps: Array<{ name: string; timeoutMs: number; stop: () => Promise<unknown> }> = [];
  #running: Promise<void> | null = null;
  #startedAt = 0;

  constructor(
    private readonly log: ShutdownReporter,
    private readonly defaultTimeoutMs = 10_000,
  ) {}

  get started(): boolean {
    return this.#running !== null;
  }

  /** When `run` was first called (0 before). */
  get startedAt(): number {
    return this.#startedAt;
  }

  add(name: string, stop: () => Promise<unknown>, timeoutMs = this.defaultTimeoutMs): void {
    this.#steps.push({ name, stop, timeoutMs });
  }

  /** Runs every step once, last added first; later calls get the same promise. */
  run(): Promise<void> {
    this.#startedAt ||= Date.now();
    this.#running ??= (async () => {
      while (this.#steps.length) {
        const step = this.#steps.pop()!;
        try {
          await withTimeout(step.stop(), step.timeoutMs);
        } catch (err) {
          if (err instanceof TimeLimitExceeded) this.log.warn(`${step.name} did not stop within ${step.timeoutMs / 1000} s; moving on`);
          else this.log.warn(`${step.name} did not stop cleanly`, { err });
        }
      }
    })();
    return this.#running;
  }
}

export interface StopSignalHandlers {
  /** The first stop signal. */
  first(signal: NodeJS.Signals): void;
  /** A later one: "no more waiting". */
  again(signal: NodeJS.Signals): void;
  /** Whether stopping has begun (by a signal or otherwise); until then every signal counts as a first one. */
  stopping(): boolean;
  /** When stopping began; a signal within `duplicateMs` of it is ignored. */
  stoppingSince?(): number;
  duplicateMs?: number;
}

/**
 * Ctrl-C handling. The same Ctrl-C often arrives twice: from the terminal to the whole process group, and
 * relayed by tsx's parent process; with `duplicateMs`, only a later one means "no more waiting".
 */
export function onStopSignals(signals: readonly NodeJS.Signals[], handlers: StopSignalHandlers): void {
  for (const signal of signals) {
    process.on(signal, () => {
      if (!handlers.stopping()) return handlers.first(signal);
      const since = handlers.stoppingSince?.() ?? 0;
      if (handlers.duplicateMs && Date.now() - since < handlers.duplicateMs) return;
      handlers.again(signal);
    });
  }
}
