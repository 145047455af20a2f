/**
 * Swagger UI at /docs, served from node_modules (swagger-ui-dist) like the dashboard's bundle: the page loads
 * nothing from another origin, so it works on a machine with no internet or behind a strict egress policy,
 * and its Content-Security-Policy forbids any other origin and any inline script.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono, type Context } from 'hono';
import { renderPage, servePage, serveVersionedFile } from '../console/page-headers.js';

const DIST = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

export const DOCS_PATH = '/docs';
const ASSETS = `${DOCS_PATH}/assets`;

/**
 * Starts Swagger UI on the API's own document. validatorUrl: null, or it would send the document to
 * validator.swagger.io for a badge. A file of its own, because the page's policy allows no inline script.
 */
const INIT_JS = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
});
`;

interface DocsAsset {
  path: string;
  contentType: string;
  load(): Promise<Uint8Array<ArrayBuffer>>;
}

const fromDist = (file: string) => async () => new Uint8Array(await readFile(join(DIST, file)));

const ASSET_LIST: DocsAsset[] = [
  { path: `${ASSETS}/swagger-ui.css`, contentType: 'text/css; charset=utf-8', load: fromDist('swagger-ui.css') },
  { path: `${ASSETS}/swagger-ui-bundle.js`, contentType: 'text/javascript; charset=utf-8', load: fromDist('swagger-ui-bundle.js') },
  { path: `${ASSETS}/init.js`, contentType: 'text/javascript; charset=utf-8', load: async () => new TextEncoder().encode(INIT_JS) },
];

/** The page and its assets: the GET routes that are open exactly when /docs is (see auth.ts). */
export const DOCS_PAGE_PATHS: readonly string[] = [DOCS_PATH, ...ASSET_LIST.map((a) => a.path)];

interface LoadedAssets {
  bodies: Map<string, Uint8Array<ArrayBuffer>>;
  /** Changes whenever any file does (an upgrade of swagger-ui-dist): their ETag and the version in the page's links. */
  version: string;
}

let pending: Promise<LoadedAssets> | undefined;

/** The files, read once per process (a failed read is tried again on the next call). */
function docsAssets(): Promise<LoadedAssets> {
  pending ??= loadAll().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function loadAll(): Promise<LoadedAssets> {
  const hash = createHash('sha256');
  const bodies = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const asset of ASSET_LIST) {
    const body = await asset.load();
    bodies.set(asset.path, body);
    hash.update(body);
  }
  return { bodies, version: hash.digest('base64url').slice(0, 16) };
}

export function renderDocsPage(version: string): string {
  const v = encodeURIComponent(version);
  return renderPage({
    title: 'storycheck API',
    head: [
      `<link rel="stylesheet" href="${ASSETS}/swagger-ui.css?v=${v}">`,
      `<script defer src="${ASSETS}/swagger-ui-bundle.js?v=${v}"></script>`,
      `<script defer src="${ASSETS}/init.js?v=${v}"></script>`,
    ],
    body: [
      '<div id="swagger-ui"></div>',
      '<noscript>Swagger UI needs JavaScript. The API\'s OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</noscript>',
    ],
  });
}

async function serveAsset(c: Context, asset: DocsAsset) {
  const { bodies, version } = await docsAssets();
  return serveVersionedFile(c, { body: bodies.get(asset.path)!, contentType: asset.contentType, version });
}

export function docsRouter(): Hono {
  const app = new Hono();
  app.get(DOCS_PATH, async (c) => {
    const { version } = await docsAssets();
    return servePage(c, renderDocsPage(version));
  });
  for (const asset of ASSET_LIST) app.get(asset.path, (c) => serveAsset(c, asset));
  return app;
}
