import { requestIdHash } from '../shared/request-id.js';
import { instanceEnvironment } from './request-context.js';

/** What the S8 variables are made from: the request as the front end forwarded it. */
export interface RequestFacts {
  requestId: string;
  remoteAddr: string;
  https: boolean;
  method: string;
  url: string;
  httpVersion: string;
  /** Lower-case names (as IncomingMessage.headers has them). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * The per-request S8 variables, layered over the instance's environment (see
 * RequestContext.env): only these are set per request.
 */
export function requestEnv(facts: RequestFacts): Record<string, string | undefined> {
  const env = Object.create(instanceEnvironment()) as Record<string, string | undefined>;
  const { url, headers } = facts;
  const q = url.indexOf('?');
  const host = headerText(headers.host);
  const colon = host.lastIndexOf(':');
  const hasPort = colon > host.lastIndexOf(']');
  env.REQUEST_LOG_ID = facts.requestId;
  env.REQUEST_ID_HASH = requestIdHash(facts.requestId);
  env.HTTPS = facts.https ? 'on' : 'off';
  env.REQUEST_METHOD = facts.method;
  env.PATH_INFO = decodePath(q === -1 ? url : url.slice(0, q));
  env.QUERY_STRING = q === -1 ? '' : url.slice(q + 1);
  env.SERVER_NAME = hasPort ? host.slice(0, colon) : host;
  env.SERVER_PORT = hasPort ? host.slice(colon + 1) : facts.https ? '443' : '80';
  env.SERVER_PROTOCOL = `HTTP/${facts.httpVersion}`;
  env.REMOTE_ADDR = facts.remoteAddr;
  env.CONTENT_TYPE = headerText(headers['content-type']);
  env.CONTENT_LENGTH = headerText(headers['content-length']);
  // The signed-in user (S11), from the headers only the front end can set (it drops the client's).
  env.USER_EMAIL = headerText(headers['x-appengine-user-email']);
  env.USER_ID = headerText(headers['x-appengine-user-id']);
  env.USER_NICKNAME = headerText(headers['x-appengine-user-nickname']);
  env.USER_IS_ADMIN = headers['x-appengine-user-is-admin'] === '1' ? '1' : '0';
  // CGI/1.1 (RFC 3875 4.1.18): each header as HTTP_<NAME>, except the two above.
  for (const name in headers) {
    const value = headers[name];
    if (name === 'content-type' || name === 'content-length' || value === undefined) continue;
    env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = headerText(value);
  }
  return env;
}

/** Raw name/value pairs as an IncomingMessage-style object: lower-case names, repeats joined (RFC 9110 5.3). */
export function headerObject(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const previous = out[name];
    out[name] = previous === undefined ? raw[i + 1]! : `${previous}, ${raw[i + 1]!}`;
  }
  return out;
}

function headerText(value: string | string[] | undefined): string {
  return value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value;
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
