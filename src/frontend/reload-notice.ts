/**
 * The dev server's word that the code on disk is not the code serving: after a save that does
 * not load, the previous code serves on (service-runtime.ts reload), and a developer looking
 * at the browser must not take its answers for the new code's. Every answer of that service
 * then carries `X-Hangar-Reload-Failed` (the error's first line), and an HTML page gets a
 * banner with the whole error at the end of its body, as Vite's and Next's overlays do.
 * Dev only: under `serve` a route never has a reload failure.
 */
import { escapeHtml } from '../instance/error-page.js';
import type { ClientResponse } from './response-rewrite.js';

export const RELOAD_FAILED_HEADER = 'x-hangar-reload-failed';

/** Header values are one printable ASCII line; the banner has the whole text. */
function headerLine(text: string): string {
  const first = text.split('\n', 1)[0] ?? '';
  return first.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

function bannerHtml(failure: string): string {
  return (
    '<div id="hangar-reload-failed" role="alert" style="position:fixed;left:0;right:0;bottom:0;z-index:2147483647;' +
    'max-height:50vh;overflow:auto;margin:0;padding:12px 16px;background:#fff0f0;color:#600;border-top:3px solid #c00;' +
    'font:13px/1.4 ui-monospace,monospace">' +
    '<strong>hangar dev: your latest change does not load; this page comes from the previous code.</strong>' +
    `<pre style="white-space:pre-wrap;margin:8px 0 0">${escapeHtml(failure)}</pre></div>`
  );
}

/**
 * Marks `response` as coming from the previous code. HTML that is not compressed by the app
 * gets the banner before its last `</body>` (or at its end); its Content-Length follows.
 *
 * @example
 * markReloadFailure(response, 'main.ts:3:19: Unexpected ";"');
 */
export function markReloadFailure(response: ClientResponse, failure: string): void {
  const headers = response.headers;
  headers[RELOAD_FAILED_HEADER] = headerLine(failure);
  const type = headers['content-type'];
  if (typeof type !== 'string' || !type.toLowerCase().startsWith('text/html')) return;
  if (headers['content-encoding'] !== undefined || response.body.length === 0) return;
  const html = response.body.toString('utf8');
  const end = html.toLowerCase().lastIndexOf('</body>');
  const banner = bannerHtml(failure);
  const body = Buffer.from(end === -1 ? html + banner : html.slice(0, end) + banner + html.slice(end));
  response.body = body;
  headers['content-length'] = String(body.length);
}
