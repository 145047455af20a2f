/**
 * The exports' CSV (src/api/csv.ts): RFC 4180 quoting, CRLF line ends, nulls, booleans and nested values, and
 * the leading `'` that keeps a spreadsheet from running a cell as a formula; read back by the tests' own RFC 4180
 * reader, every value comes back as it went in.
 */
import { describe, expect, it } from 'vitest';
import { csvCell, csvLine } from '../../src/api/csv.js';
import { asCsvText, parseCsv, unescapeFormula } from '../helpers/csv.js';

describe('CSV cells', () => {
  it('writes null as an empty cell, booleans and numbers as text, nested values as JSON', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(true)).toBe('true');
    expect(csvCell(false)).toBe('false');
    expect(csvCell(42)).toBe('42');
    expect(csvCell('2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:00:00.000Z');
    expect(csvCell({ media_type: 'image' })).toBe('"{""media_type"":""image""}"');
  });

  it('quotes a cell holding a quote, a comma, a CR or an LF, doubling the quotes', () => {
    expect(csvCell('plain text')).toBe('plain text');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('cr\rhere')).toBe('"cr\rhere"');
  });

  it("puts a ' before a cell starting with =, +, - or @, and quotes it after if it needs quotes", () => {
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('+33 6')).toBe("'+33 6");
    expect(csvCell('-x')).toBe("'-x");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell('a=b')).toBe('a=b');
    expect(csvCell("'quoted already")).toBe("'quoted already");
    // a value that already looks escaped is escaped once more, so that reading it back is unambiguous
    expect(csvCell("'=1")).toBe("''=1");
  });

  it('ends each record with CRLF', () => {
    expect(csvLine(['a', null, true, 'b,c'])).toBe('a,,true,"b,c"\r\n');
  });
});

describe('CSV read back', () => {
  it('gives every value back, whatever it holds', () => {
    const values: unknown[] = [
      'simple',
      '',
      null,
      false,
      7,
      '=cmd|"/c calc"!A0',
      '-12',
      "'=already escaped",
      "'plain quote",
      '@user, with "quotes"\r\nand a CRLF',
      'a\nb\rc',
      '"',
      ',',
      'ünïcødé ✓',
      { nested: ['x', 1] },
    ];
    const text = csvLine(['header']) + values.map((v) => csvLine([v, 'end'])).join('');
    const [header, ...records] = parseCsv(text);
    expect(header).toEqual(['header']);
    expect(records.map((r) => [unescapeFormula(r[0]!), r[1]])).toEqual(values.map((v) => [asCsvText(v), 'end']));
  });

  it('the reader refuses what is not RFC 4180', () => {
    expect(() => parseCsv('a,b\n')).toThrow(/CRLF/);
    expect(() => parseCsv('a,b')).toThrow(/CRLF/);
    expect(() => parseCsv('a"b\r\n')).toThrow(/quote/);
    expect(() => parseCsv('"ab\r\n')).toThrow(/unterminated/);
  });
});
