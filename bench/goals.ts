/**
 * A scenario's goals as its report prints them: each a line with pass or MISS (a goal never fails the run), the
 * figure beside it. Shared by the reports of the scenarios that have goals (api_load, export_100k, watch_fanout).
 */

export interface Goal {
  goal: string;
  actual: string;
  met: boolean;
}

/** The printed goals: a heading, then one aligned line per goal. */
export function goalLines(goals: readonly Goal[]): string[] {
  const width = Math.max(...goals.map((g) => g.goal.length));
  return ['  goals:', ...goals.map((g) => `    ${g.met ? 'pass' : 'MISS'}  ${g.goal.padEnd(width)}  ${g.actual}`)];
}

/** A count as the reports print it: whole, with thousands separators. */
export const thousands = (n: number) => Math.round(n).toLocaleString('en-US');
