// The README's "Configuration" tables list exactly the variables the configuration module knows, section by
// section, with the same defaults (a computed one in the module's words, backticks aside).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSections, sectionDefaults, type SectionName } from '../../src/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The README's subheading of each section of src/config.ts. */
const HEADINGS: Record<string, SectionName> = {
  'The service': 'service',
  '`npm run dev`': 'dev',
  'The simulator': 'simulator',
  'The benchmark': 'bench',
};

/** Each subheading of "## Configuration" → its table's rows: variable → default cell. */
function readmeTables(): Map<string, Map<string, string>> {
  const start = README.indexOf('\n## Configuration\n');
  const end = README.indexOf('\n## ', start + 1);
  expect(start).toBeGreaterThan(0);
  const tables = new Map<string, Map<string, string>>();
  let rows: Map<string, string> | null = null;
  for (const line of README.slice(start, end).split('\n')) {
    if (line.startsWith('### ')) tables.set(line.slice(4).trim(), (rows = new Map()));
    const cells = line.split('|').map((c) => c.trim());
    const variable = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[1] ?? '');
    if (!line.startsWith('|') || !variable) continue;
    expect(rows, `${variable[1]} is in a table under no subheading`).not.toBeNull();
    expect(rows!.has(variable[1]!), `${variable[1]} is listed twice`).toBe(false);
    rows!.set(variable[1]!, cells[2]!);
  }
  return tables;
}

describe('README "Configuration"', () => {
  const tables = readmeTables();

  it('has one table per section of the configuration module, and no other', () => {
    expect([...tables.keys()]).toEqual(Object.keys(HEADINGS));
    expect(Object.values(HEADINGS).sort()).toEqual(Object.keys(configSections).sort());
  });

  it.each(Object.entries(HEADINGS))('lists exactly the variables of "%s"', (heading, section) => {
    expect([...tables.get(heading)!.keys()].sort()).toEqual(Object.keys(configSections[section].shape).sort());
  });

  it.each(Object.entries(HEADINGS))('gives the module\'s defaults for "%s"', (heading, section) => {
    const defaults = sectionDefaults(section);
    for (const [variable, cell] of tables.get(heading)!) {
      const written = cell.replaceAll('`', '');
      const expected = defaults[variable]!;
      // the cell may add a note in parentheses: `0` (off), unset (no auth)
      expect(written === expected || written.startsWith(`${expected} (`), `${variable}: README says "${written}", the module "${expected}"`).toBe(true);
    }
  });
});
