/**
 * The one place that reads the environment (docs/operations.md, "Configuration"), for every process: the service (`npm run api`,
 * `worker`, `migrate`), `npm run dev`, `npm run simulator` and `npm run bench`. Each section's variables,
 * defaults and rules live in src/config/; each process loads its sections here, once, at start, and hands
 * typed values on. Tests build their own with `loadConfig({...})` instead of mutating process.env.
 *
 * A bad value, or two values that contradict each other, stop the process with one line naming the
 * variables and what is wrong (ConfigError).
 */
import type { z } from 'zod';
import type { SimulatorOptions } from './simulator/settings.js';
import { benchComputedDefaults, benchSchema, benchShape, type BenchSection } from './config/bench.js';
import { devComputedDefaults, devSchema, devServiceDefaults, devShape, devStoryOptions, type DevSettings } from './config/dev.js';
import { checkRelations, parseSection, renderDefault, setVariables, type Env } from './config/fields.js';
import { serviceComputedDefaults, serviceRelations, serviceSchema, serviceShape, type Config } from './config/service.js';
import {
  realismOptions,
  simulatorComputedDefaults,
  simulatorRealismSchema,
  simulatorRelations,
  simulatorSchema,
  simulatorShape,
  simulatorStoriesSchema,
  storyOptions,
  type SimulatorSection,
  type SimulatorStoryOptions,
} from './config/simulator.js';

export { ConfigError, type Env } from './config/fields.js';
export { MAX_SEND_WAIT_MS, workerDatabasePool, type Config } from './config/service.js';
export { DEV_HOST, type DevSettings } from './config/dev.js';
export type { BenchSection } from './config/bench.js';
export type { SimulatorSection } from './config/simulator.js';
export { parseWindows } from './config/simulator.js';

/** The service's configuration; throws ConfigError naming the first bad variable or broken rule. */
export function loadConfig(env: Env = process.env): Config {
  return checkRelations(parseSection(serviceSchema, setVariables(env)), serviceRelations);
}

export interface DevProcessSettings {
  /** The service's configuration, with the launcher's defaults under what the environment sets. */
  config: Config;
  dev: DevSettings;
  /** TEMPORAL_ADDRESS when set: a server to use instead of starting one. */
  externalTemporal: string | null;
  /** DATABASE_URL was set: that database and no other, whether it answers or not. */
  databaseUrlGiven: boolean;
  /** The simulator's stories (dev's scale under SIM_STORY_*), and its profile and realism from SIM_* (none: friendly). */
  simulator: SimulatorOptions;
}

/** `npm run dev`: its own section, the simulator's stories and realism, and the service's configuration. */
export function loadDevProcess(env: Env = process.env): DevProcessSettings {
  const set = setVariables(env);
  const dev = parseSection(devSchema, set);
  const simulator = {
    ...devStoryOptions(storyOptions(parseSection(simulatorStoriesSchema, set))),
    ...realismOptions(parseSection(simulatorRealismSchema, set)),
  };
  const config = loadConfig({ ...devServiceDefaults(dev, simulator), ...set });
  return { config, dev, externalTemporal: set.TEMPORAL_ADDRESS ?? null, databaseUrlGiven: set.DATABASE_URL !== undefined, simulator };
}

export interface SimulatorProcessSettings {
  simulator: SimulatorSection;
  /** The story variables as simulator options (only those set). */
  stories: SimulatorStoryOptions;
  /** The realism variables as simulator options (only those set). */
  realism: SimulatorOptions;
}

/** `npm run simulator`: the simulator's section. */
export function loadSimulatorProcess(env: Env = process.env): SimulatorProcessSettings {
  const simulator = checkRelations(parseSection(simulatorSchema, setVariables(env)), simulatorRelations);
  return { simulator, stories: storyOptions(simulator), realism: realismOptions(simulator) };
}

export interface BenchProcessSettings {
  bench: BenchSection;
  /** The server the benchmark's database is created on: BENCH_DATABASE_ADMIN_URL, else DATABASE_URL's. */
  databaseAdminUrl: string;
  /** The BENCH_* values as the variables spell them, for the options' parser (its flags win over them). */
  variables: Record<string, string>;
}

/** `npm run bench`: the benchmark's section (the service's configuration it runs is its own, per scenario). */
/** The bench's variables (and its flags, spelled as variables) checked by the section's rules. */
export function parseBenchSection(variables: Env): BenchSection {
  return parseSection(benchSchema, setVariables(variables));
}

export function loadBenchProcess(env: Env = process.env): BenchProcessSettings {
  const set = setVariables(env);
  const bench = parseSection(benchSchema, set);
  const databaseAdminUrl = bench.BENCH_DATABASE_ADMIN_URL ?? loadConfig({ DATABASE_URL: set.DATABASE_URL }).DATABASE_URL;
  const variables = Object.fromEntries(
    Object.entries(bench).filter((e): e is [string, string | number] => e[1] !== undefined).map(([k, v]) => [k, String(v)]),
  );
  return { bench, databaseAdminUrl, variables };
}

interface Section {
  shape: Record<string, z.ZodType>;
  computedDefaults: Record<string, string | undefined>;
}

/** Every section's variables with their defaults as the README's tables give them (see renderDefault). */
export const configSections = {
  service: { shape: serviceShape, computedDefaults: serviceComputedDefaults },
  dev: { shape: devShape, computedDefaults: devComputedDefaults },
  simulator: { shape: simulatorShape, computedDefaults: simulatorComputedDefaults },
  bench: { shape: benchShape, computedDefaults: benchComputedDefaults },
} satisfies Record<string, Section>;

export type SectionName = keyof typeof configSections;

/** Variable → its default in words: the value it would be set to, what it is computed from, or `unset`. */
export function sectionDefaults(name: SectionName): Record<string, string> {
  const { shape, computedDefaults }: Section = configSections[name];
  return Object.fromEntries(Object.entries(shape).map(([key, field]) => [key, computedDefaults[key] ?? renderDefault(field)]));
}
