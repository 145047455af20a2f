/**
 * Text from outside (upstream answers, user input quoted in errors) made safe to store as Postgres `text` or
 * inside `jsonb`: Postgres refuses the NUL character (22021, and 22P05 for `\u0000` in jsonb), so one poison
 * answer would otherwise fail every attempt to record it, for ever. Also bounds its length.
 */
export function storableText(text: string, maxLength = 10_000): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.includes('\u0000') ? text.replace(/\u0000/g, '\uFFFD') : text;
  return clean.length > maxLength ? `${clean.slice(0, maxLength - 1)}…` : clean;
}
