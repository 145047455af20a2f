/**
 * The section of `npm run bench` (BENCH_*). Its command-line flags win over these variables: bench/figures.ts
 * writes each flag over the variable it stands for and has this section check them all, then computes the
 * defaults that depend on other options (the profiles of `--quick`, the burst from the rate, the concurrency
 * from the proxies).
 */
import { z } from 'zod';
import { int, number, postgresUrl } from './fields.js';

/** Like flag(), but kept as the variable spells it: bench/figures.ts reads it together with the flags. */
const yesNo = () => z.enum(['true', 'false', '1', '0'], { error: 'must be true or false (1 or 0)' });

export const benchShape = {
  BENCH_PROFILES: int(1, 1_000_000).optional(),
  BENCH_PROXIES: int(1, 200).default(4),
  /** Requests per second each proxy may send (the simulator's per-address limit). */
  BENCH_RATE: number(0.01).default(10),
  BENCH_BURST: int(1).optional(),
  BENCH_LATENCY_MS: int(0, 60_000).default(50),
  BENCH_CONCURRENCY: int(1, 256).optional(),
  /** The scenarios to run, comma-separated (bench/figures.ts knows their names). */
  BENCH_SCENARIOS: z.string().optional(),
  BENCH_TIME_LIMIT_S: int(1).optional(),
  BENCH_OUT: z.string().min(1).default('bench/results/latest.json'),
  BENCH_QUICK: yesNo().default('false'),
  BENCH_EXPERIMENTS: yesNo().default('false'),
  BENCH_SKIP_SCALE: yesNo().default('false'),
  BENCH_EAGER: yesNo().default('true'),
  /** The server the benchmark creates its database on. */
  BENCH_DATABASE_ADMIN_URL: postgresUrl.optional(),
  BENCH_TEMPORAL_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('ERROR'),
};

export const benchSchema = z.object(benchShape);
export type BenchSection = z.output<typeof benchSchema>;

export const benchComputedDefaults: Partial<Record<keyof typeof benchShape, string>> = {
  BENCH_PROFILES: '5000, 500 with --quick',
  BENCH_BURST: 'BENCH_RATE rounded up',
  BENCH_CONCURRENCY: 'BENCH_PROXIES × 4',
  BENCH_SCENARIOS: 'all but the experiments',
  BENCH_TIME_LIMIT_S: "derived from each scenario's ideal",
  BENCH_DATABASE_ADMIN_URL: "DATABASE_URL's server",
};
