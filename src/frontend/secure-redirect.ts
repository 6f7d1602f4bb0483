/**
 * SPEC S5 step 3, `secure:` on a handler: `always` sends HTTP requests to HTTPS, `never` sends
 * HTTPS requests to HTTP, each with the handler's `redirect_http_response_code`.
 */
import type { Handler } from '../config/types.js';

/** The platform's listening ports; `https` is undefined when no HTTPS listener is configured. */
export interface ListenPorts {
  http?: number;
  https?: number;
}

export interface SecureRedirect {
  status: number;
  location: string;
}

/**
 * Where to redirect, or undefined when the request may be served as it came. Without an HTTPS
 * listener a `secure: always` handler is served over HTTP (there is nowhere to send the client;
 * the caller warns once), as dev_appserver did.
 *
 * @example
 * secureRedirect(handler, { https: false, host: 'localhost:8080', url: '/a?b' }, { http: 8080, https: 8443 })
 * // { status: 302, location: 'https://localhost:8443/a?b' }
 */
export function secureRedirect(
  handler: Handler,
  request: { https: boolean; host: string; url: string },
  ports: ListenPorts,
): SecureRedirect | undefined {
  let scheme: 'http' | 'https';
  let port: number | undefined;
  if (handler.secure === 'always' && !request.https) {
    scheme = 'https';
    port = ports.https;
  } else if (handler.secure === 'never' && request.https) {
    scheme = 'http';
    port = ports.http;
  } else {
    return undefined;
  }
  if (port === undefined) return undefined;
  const defaultPort = scheme === 'https' ? 443 : 80;
  const authority = `${hostname(request.host)}${port === defaultPort ? '' : `:${port}`}`;
  return { status: handler.redirectHttpResponseCode, location: `${scheme}://${authority}${request.url}` };
}

/** The Host header without its port; IPv6 literals keep their brackets. */
function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
