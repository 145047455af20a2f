/**
 * The dashboard's browser code, bundled in memory by esbuild the first time it is asked for: a small Preact
 * app (src/console/app) written in TypeScript like the rest of the product, with no build step to run and no
 * dev server. Everything it needs comes from node_modules, so the page works on a machine with no internet.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('./app/main.tsx', import.meta.url));

export interface ConsoleAssets {
  js: Uint8Array<ArrayBuffer>;
  css: Uint8Array<ArrayBuffer>;
  /** Changes whenever either file does: their ETag and the version in the page's asset links. */
  version: string;
}

let pending: Promise<ConsoleAssets> | undefined;

/** The bundle, built once per process (a failed build is tried again on the next call). */
export function consoleAssets(): Promise<ConsoleAssets> {
  pending ??= bundle().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function bundle(): Promise<ConsoleAssets> {
  const result = await build({
    entryPoints: { app: ENTRY },
    bundle: true,
    write: false,
    outdir: '/console',
    format: 'esm',
    target: 'es2022',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const file = (ext: string) => {
    const out = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (!out) throw new Error(`the console bundle has no ${ext} file`);
    return new Uint8Array(out.contents); // a copy on its own ArrayBuffer, as a Response body wants
  };
  const js = file('.js');
  const css = file('.css');
  const version = createHash('sha256').update(js).update(css).digest('base64url').slice(0, 16);
  return { js, css, version };
}
