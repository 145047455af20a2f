/**
 * An RFC 4180 reader for the export tests: records of fields, quoted fields with doubled quotes and line breaks
 * inside, CRLF between records. It refuses anything else (a bare quote, a lone CR, a missing final CRLF), so a
 * file that only looks like CSV fails the test.
 */

export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const fail = (what: string) => {
    throw new Error(`not RFC 4180 CSV at character ${i}: ${what} (${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))})`);
  };
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) fail('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && !',\r\n'.includes(text[i]!)) {
        if (text[i] === '"') fail('a quote inside an unquoted field');
        field += text[i++];
      }
    }
    record.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') {
      records.push(record);
      record = [];
      i += 2;
      continue;
    }
    fail(i >= text.length ? 'no CRLF after the last record' : 'a line break that is not CRLF');
  }
  return records;
}

/** A cell as the exported value was before formula escaping: the one `'` added before `'`s and `=`, `+`, `-` or `@` dropped. */
export function unescapeFormula(cell: string): string {
  return /^'+[=+\-@]/.test(cell) ? cell.slice(1) : cell;
}

/** A JSON item's field as its CSV cell reads once unescaped: null empty, booleans and numbers as text, objects as JSON. */
export function asCsvText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The records of a CSV export as objects by the header's field names, formula escaping undone. */
export function csvObjects(text: string): { header: string[]; rows: Array<Record<string, string>> } {
  const [header, ...records] = parseCsv(text);
  if (!header) throw new Error('no header row');
  const rows = records.map((r) => {
    if (r.length !== header.length) throw new Error(`a record of ${r.length} fields under a header of ${header.length}`);
    return Object.fromEntries(header.map((name, k) => [name, unescapeFormula(r[k]!)]));
  });
  return { header, rows };
}
