/**
 * What every section of the configuration is built from: the kinds of value a variable may hold, how an
 * environment becomes a section (empty strings are unset), and the one-line error naming what is wrong.
 */
import { z } from 'zod';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const bounds = (min: number, max: number, what: string) =>
  max >= Number.MAX_SAFE_INTEGER ? `must be ${what} of at least ${min}` : `must be ${what} from ${min} to ${max}`;

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, bounds(min, max, 'a whole number'))
    .max(max, bounds(min, max, 'a whole number'));

export const number = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a number' })
    .min(min, bounds(min, max, 'a number'))
    .max(max, bounds(min, max, 'a number'));

/** A share of something, from 0 to 1. */
export const share = number(0, 1);

/** A port to listen on; 0 asks the system for any free one. */
export const port = () => int(0, 65535);

/** A port others connect to: 0 would not be one. */
export const fixedPort = () => int(1, 65535);

export const postgresUrl = z.string().refine((v) => /^postgres(ql)?:\/\/[^/]+/.test(v), 'must be a postgres:// URL');

export const httpUrl = () => z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** `true`/`false` (or `1`/`0`) as a boolean, with its default given as the variable would spell it. */
export const flag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .default(fallback)
    .transform((v) => v === 'true' || v === '1');

/** The variables that are set: `VAR= cmd` means unset, as in most shells. */
export function setVariables(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

/** Parses a section, or throws ConfigError naming the first bad variable and what is wrong with it. */
export function parseSection<T extends z.ZodType>(schema: T, variables: Record<string, string>): z.output<T> {
  const result = schema.safeParse(variables);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ConfigError(`invalid configuration: ${String(issue.path[0] ?? 'configuration')} ${issue.message}`);
}

/**
 * A rule between variables, checked once each is valid on its own. `problem` says what is wrong, naming every
 * variable involved, or returns null when the rule holds.
 */
export interface Relation<C> {
  variables: readonly string[];
  problem(config: C): string | null;
}

export function checkRelations<C>(config: C, relations: readonly Relation<C>[]): C {
  for (const relation of relations) {
    const problem = relation.problem(config);
    if (problem !== null) throw new ConfigError(`invalid configuration: ${problem}`);
  }
  return config;
}

/**
 * A variable's default as the README writes it: the value the variable would be set to, or `unset`. A default
 * the module computes from other values is given by the section (`computed`), as words.
 */
export function renderDefault(field: z.ZodType): string {
  if (field instanceof z.ZodPipe) return renderDefault(field.def.in as z.ZodType);
  if (field instanceof z.ZodDefault) return String(field.def.defaultValue);
  return 'unset';
}
