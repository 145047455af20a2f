import { renderPage } from './page-headers.js';

/** The one HTML page of the dashboard: the app mounts into it and routes by the URL's hash (`#/batches/<id>`). */
export function renderShell(version: string): string {
  const v = encodeURIComponent(version);
  return renderPage({
    title: 'storycheck',
    head: [
      '<meta name="color-scheme" content="light">',
      `<link rel="stylesheet" href="/console/app.css?v=${v}">`,
      `<script type="module" src="/console/app.js?v=${v}"></script>`,
    ],
    body: [
      '<div id="app"><p class="boot">Loading the storycheck console…</p></div>',
      '<noscript>The storycheck console needs JavaScript. The API itself is described at <a href="/docs">/docs</a>.</noscript>',
    ],
  });
}
