/**
 * Prometheus text as the metrics tests read it: parsed by parse-prometheus-text-format (which fails on
 * anything that is not valid exposition text, and names the families), and read sample by sample for the
 * figures (that parser drops the labels of labelled histograms).
 */
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  text: string;
  families: Map<string, MetricFamily>;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function samplesOf(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(LABEL)) labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export function parseScrape(text: string): Scrape {
  return { text, families: new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f])), samples: samplesOf(text) };
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return parseScrape(await res.text());
}

const matches = (labels: Record<string, string>, wanted: Record<string, string>) => Object.entries(wanted).every(([k, v]) => labels[k] === v);

/** The sum of the samples of `name` with these labels (0 when none); for a histogram, of its counts. */
export function figure(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const sampleName = s.families.get(name)?.type === 'HISTOGRAM' ? `${name}_count` : name;
  return s.samples.filter((x) => x.name === sampleName && matches(x.labels, labels)).reduce((sum, x) => sum + x.value, 0);
}

/** The label sets of `name`'s samples (of its counts, for a histogram). */
export function labelSets(s: Scrape, name: string): Array<Record<string, string>> {
  const sampleName = s.families.get(name)?.type === 'HISTOGRAM' ? `${name}_count` : name;
  return s.samples.filter((x) => x.name === sampleName).map((x) => x.labels);
}
