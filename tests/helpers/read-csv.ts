/**
 * Reads CSV as the exports write it (RFC 4180: quoted cells with doubled quotes, CRLF line ends) back into rows
 * of cells, undoing the export's guard against spreadsheet formulas: a cell that starts with `'` followed by
 * `=`, `+`, `-` or `@` had that `'` added. Strict: a bare LF or a missing last CRLF is an error, not a guess.
 */
export function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const endCell = () => {
    row.push(/^'[=+\-@]/.test(cell) ? cell.slice(1) : cell);
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch !== '"') cell += ch;
      else if (text[i + 1] === '"') cell += text[++i];
      else quoted = false;
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      endCell();
    } else if (ch === '\r' && text[i + 1] === '\n') {
      endCell();
      rows.push(row);
      row = [];
      i++;
    } else if (ch === '\n' || ch === '\r') {
      throw new Error(`a bare line break at ${i}: CSV lines end with CRLF`);
    } else {
      cell += ch;
    }
  }
  if (quoted) throw new Error('the CSV ends inside a quoted cell');
  if (cell !== '' || row.length > 0) throw new Error('the CSV does not end with CRLF');
  return rows;
}
