import type { IncomingMessage } from 'node:http';
import { requestIdHash } from '../shared/request-id.js';
import { instanceEnvironment } from './request-context.js';

/**
 * The per-request S8 variables, from the request as the front end forwarded it, layered over
 * the instance's environment (see RequestContext.env): only these are set per request.
 */
export function requestEnv(
  req: IncomingMessage,
  meta: { requestId: string; remoteAddr: string; https: boolean },
): Record<string, string | undefined> {
  const env = Object.create(instanceEnvironment()) as Record<string, string | undefined>;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  const hasPort = colon > host.lastIndexOf(']');
  env.REQUEST_LOG_ID = meta.requestId;
  env.REQUEST_ID_HASH = requestIdHash(meta.requestId);
  env.HTTPS = meta.https ? 'on' : 'off';
  env.REQUEST_METHOD = req.method ?? 'GET';
  env.PATH_INFO = decodePath(q === -1 ? url : url.slice(0, q));
  env.QUERY_STRING = q === -1 ? '' : url.slice(q + 1);
  env.SERVER_NAME = hasPort ? host.slice(0, colon) : host;
  env.SERVER_PORT = hasPort ? host.slice(colon + 1) : meta.https ? '443' : '80';
  env.SERVER_PROTOCOL = `HTTP/${req.httpVersion}`;
  env.REMOTE_ADDR = meta.remoteAddr;
  env.CONTENT_TYPE = req.headers['content-type'] ?? '';
  env.CONTENT_LENGTH = req.headers['content-length'] ?? '';
  env.USER_EMAIL = '';
  env.USER_ID = '';
  env.USER_NICKNAME = '';
  env.USER_IS_ADMIN = '0';
  // CGI/1.1 (RFC 3875 4.1.18): each header as HTTP_<NAME>, except the two above.
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === 'content-type' || name === 'content-length' || value === undefined) continue;
    env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = Array.isArray(value) ? value.join(', ') : value;
  }
  return env;
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
