/**
 * CSV as the exports write it (RFC 4180): CRLF line ends; null as an empty cell; booleans `true`/`false`; nested
 * values as JSON text. A cell is quoted when it holds `"`, `,`, CR or LF (quotes doubled inside). A cell starting
 * with `=`, `+`, `-` or `@` gets a leading `'`, so that a spreadsheet shows it as text instead of running it as a
 * formula (CSV injection); a program reading the file back strips that one `'`. So that this stays unambiguous, a
 * cell whose text already starts with `'`s and then one of those characters gets one more `'` too.
 */

const FORMULA_START = /^'*[=+\-@]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record, CRLF-terminated. */
export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}
