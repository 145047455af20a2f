/**
 * How this server answers a browser's page and the files it loads: the console's shell and the API's docs page
 * (src/api/docs-page.ts) alike. A page may load nothing and connect nowhere but here, and its files are named by
 * version, so that a browser keeps them for good and asks again only when they change.
 */
import type { Context } from 'hono';

/** What a page may load and where it may connect: only this server. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Answers `html` as a page: the policy above, no sniffing, no referrer beyond this server, asked anew each time. */
export function servePage(c: Context, html: string) {
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'same-origin');
  c.header('Cache-Control', 'no-cache');
  return c.html(html);
}

/** Answers a page's file of `version`: for good when the request names that version, with ETag and 304 always. */
export function serveVersionedFile(c: Context, file: { body: Uint8Array<ArrayBuffer> | string; contentType: string; version: string }) {
  const etag = `"${file.version}"`;
  const headers = {
    'Content-Type': file.contentType,
    ETag: etag,
    'X-Content-Type-Options': 'nosniff',
    // the page names the version in the URL, so a versioned request may be cached for good
    'Cache-Control': c.req.query('v') === file.version ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
  return c.body(file.body, 200, headers);
}

/** A page of this server: its title, what its head loads (already escaped), and its body. */
export function renderPage(page: { title: string; head: string[]; body: string[] }): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${page.title}</title>`,
    // no favicon request: the server has none
    '<link rel="icon" href="data:,">',
    ...page.head,
    '</head>',
    '<body>',
    ...page.body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
