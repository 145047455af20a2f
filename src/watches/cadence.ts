/**
 * A watch's cadence as the API accepts it and as its Temporal Schedule runs it. The API checks a cron expression
 * and a time zone itself, so a mistake is a 400 naming the field before anything is written, instead of a
 * Schedule the server refuses after the watch's row exists.
 *
 * Cron: five fields (minute hour day-of-month month day-of-week), each `*`, a number, a range `a-b`, a step
 * `x/n`, or a comma list of these; months and weekdays may be named (JAN, MON); or one of @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight, @hourly. A time zone goes in `timezone`, never inside the expression.
 */

/** Bounds of `every_s`: ten seconds to 31 days (the table's check). */
export const MIN_EVERY_S = 10;
export const MAX_EVERY_S = 2_678_400;
export const MAX_JITTER_S = 86_400;

const CRON_ALIASES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldRule {
  min: number;
  max: number;
  /** Names standing for min, min + 1, ... */
  names?: string[];
}

const FIELDS: FieldRule[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS },
  { min: 0, max: 7, names: WEEKDAYS },
];

/** The value of one field's number or name, or null when it is neither or out of range. */
function fieldValue(text: string, rule: FieldRule): number | null {
  if (/^\d{1,2}$/.test(text)) {
    const n = Number(text);
    return n >= rule.min && n <= rule.max ? n : null;
  }
  const named = rule.names?.indexOf(text.toUpperCase()) ?? -1;
  return named >= 0 ? rule.min + named : null;
}

/** One element of a comma list: `*`, `v`, `a-b`, each optionally `/step`. */
function validElement(element: string, rule: FieldRule): boolean {
  const [range, step, extra] = element.split('/');
  if (extra !== undefined || range === undefined) return false;
  if (step !== undefined && !(/^\d{1,2}$/.test(step) && Number(step) >= 1)) return false;
  if (range === '*') return true;
  const [from, to, more] = range.split('-');
  if (more !== undefined || from === undefined) return false;
  const start = fieldValue(from, rule);
  if (start === null) return false;
  if (to === undefined) return true;
  const end = fieldValue(to, rule);
  return end !== null && end >= start;
}

/** Whether `expression` is a cron expression a watch accepts (see the top of this file). */
export function isValidCron(expression: string): boolean {
  const trimmed = expression.trim();
  if (CRON_ALIASES.has(trimmed.toLowerCase())) return true;
  const fields = trimmed.split(/\s+/);
  if (fields.length !== FIELDS.length) return false;
  return fields.every((field, i) => field.split(',').every((element) => validElement(element, FIELDS[i]!)));
}

/** A zone name as the tz database spells it: capitalised parts (`America/Argentina/Buenos_Aires`, `Etc/GMT+5`). */
const ZONE_NAME = /^[A-Z][A-Za-z0-9_+-]*(?:\/[A-Z][A-Za-z0-9_+-]*){0,2}$/;

/**
 * Whether `zone` is an IANA time zone name, spelled as the tz database spells it (the Temporal server looks it up
 * there, case-sensitively): a name Node's time zone data knows, aliases included.
 */
export function isKnownTimezone(zone: string): boolean {
  if (!ZONE_NAME.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The Schedule's catch-up window: a tick missed while Temporal was down is taken late only within one
 * interval (at least the 10 s Temporal requires); a cron watch, 60 s. A check an hour late is worth nothing.
 */
export function catchupWindowMs(cadence: { every_s: number | null }): number {
  return cadence.every_s === null ? 60_000 : Math.max(10_000, cadence.every_s * 1000);
}
