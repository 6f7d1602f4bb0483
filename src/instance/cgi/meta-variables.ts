/**
 * The environment of one CGI/1.1 request (RFC 3875 section 4.1, SPEC S4.2 and S8): the
 * meta-variables made from the request as the front end forwarded it, over the S8 variables
 * the caller passes in `extra` (request-specific values win).
 *
 * Decisions where RFC 3875 leaves a choice:
 * - NULL meta-variables are left unset, as Apache does, rather than set to "": CONTENT_LENGTH
 *   and CONTENT_TYPE without a body or Content-Type, PATH_TRANSLATED without PATH_INFO or a
 *   document root, AUTH_TYPE and REMOTE_USER unless the platform authenticated the user.
 *   A same-named entry of `extra` is removed too, so a script never sees a stale value.
 *   PATH_INFO is always set ("" when empty): App Engine always set it and S8 lists it.
 *   PATH_TRANSLATED is also unset when the decoded PATH_INFO has a `.` or `..` segment.
 * - REMOTE_HOST is REMOTE_ADDR (the RFC's fallback): no reverse DNS lookup per request.
 *   REMOTE_IDENT is never set: no ident (RFC 1413) lookups.
 * - `Authorization` IS passed as HTTP_AUTHORIZATION although RFC 3875 4.1.18 says a server
 *   SHOULD remove it: the platform never authenticates with it (the front end already strips
 *   an Authorization carrying the platform's admin token), so it belongs to the app, and
 *   App Engine passed it. `Proxy-Authorization` is hop-by-hop and never passed.
 * - Never passed as HTTP_*: Content-Type and Content-Length (they have their own variables),
 *   hop-by-hop headers and those the Connection header names, and `Proxy`, which would
 *   become HTTP_PROXY and redirect the script's own outbound HTTP (httpoxy, CVE-2016-5385).
 * - Header names with anything but letters, digits and '-' are dropped, also '_' (as Apache
 *   2.4 and nginx do): `X_AppEngine_User_Is_Admin` would otherwise land in the same variable
 *   as `X-AppEngine-User-Is-Admin`, slipping past the front end, which strips only the latter.
 * - Repeated headers are joined with ", " (RFC 9110 5.3); Cookie with "; " (RFC 6265 5.4).
 * - SCRIPT_NAME and PATH_INFO are URL-decoded (RFC 3875 4.1.5, 4.1.13: "not URL-encoded"); a
 *   part that is not valid percent-encoded UTF-8, or decodes to a NUL byte (which no
 *   environment variable can hold), stays as it was sent.
 * - Beyond RFC 3875, what common CGI programs need: SCRIPT_FILENAME (php-cgi, git
 *   http-backend), REQUEST_URI (PHP, most frameworks), DOCUMENT_ROOT when given, and
 *   REDIRECT_STATUS=200, without which php-cgi refuses to run ("cgi.force_redirect").
 */
import { hopByHop } from '../../shared/hop-by-hop.js';
import { serveServerSoftware } from '../../shared/version.js';

/** The request as the platform hands it to a CGI script. */
export interface CgiRequest {
  /** As the client sent it (`GET`, `POST`, ...). */
  method: string;
  /** Path and query as the client sent them (`/cgi-bin/a.sh/x?q=1`), still URL-encoded. */
  url: string;
  /** `1.1` or `1.0`. */
  httpVersion: string;
  /** Flat `[name, value, name, value, ...]` as the front end forwarded them (IncomingMessage.rawHeaders). */
  headers: readonly string[];
  /** Length in bytes of the (buffered) request body; 0 for none. */
  bodyLength: number;
  remoteAddr: string;
  https: boolean;
  /** From the Host header: host name, IPv4 address or bracketed IPv6 address. */
  serverName: string;
  /** From the Host header, or 80/443 when it names no port. */
  serverPort: string | number;
  /** The part of the URL path the handler matched as the script (URL-encoded, as sent); may be "". */
  scriptName: string;
  /** The rest of the URL path after `scriptName` (URL-encoded, as sent); may be "". */
  pathInfo: string;
  /** The script's absolute path on disk: SCRIPT_FILENAME. */
  scriptFilename: string;
  /** The app's directory, when there is one to map PATH_INFO into (PATH_TRANSLATED, DOCUMENT_ROOT). */
  documentRoot?: string;
  /** The user the platform authenticated (S11 `login:`), e.g. their email: REMOTE_USER. */
  remoteUser?: string;
  /** How that user was authenticated: AUTH_TYPE. */
  authType?: string;
  /** Defaults to `extra.SERVER_SOFTWARE`, then to `Hangar/X.Y.Z`. */
  serverSoftware?: string;
  /** The S8 environment (app, instance and request variables, env_variables). */
  extra?: Readonly<Record<string, string>>;
}

/** Headers that never become HTTP_* (see the module comment for why each). */
const NOT_PASSED = new Set([...hopByHop, 'content-type', 'content-length', 'proxy']);
/** Header names that make a valid, unambiguous variable name. */
const PASSABLE_NAME = /^[A-Za-z0-9-]+$/;
/** Meta-variables that are unset when NULL: a same-named `extra` entry must not show through. */
const UNSET_WHEN_NULL = ['AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'PATH_TRANSLATED', 'REMOTE_USER'];

/**
 * The environment for one CGI request: the S8 variables in `extra`, then every RFC 3875
 * meta-variable and an HTTP_* variable per request header.
 *
 * @example
 * cgiEnvironment({
 *   method: 'GET', url: '/cgi-bin/hello.sh/a%20b?x=1', httpVersion: '1.1',
 *   headers: ['Host', 'example.com', 'Accept', 'text/html'], bodyLength: 0,
 *   remoteAddr: '127.0.0.1', https: false, serverName: 'example.com', serverPort: 80,
 *   scriptName: '/cgi-bin/hello.sh', pathInfo: '/a%20b', scriptFilename: '/srv/app/cgi-bin/hello.sh',
 * });
 * // { ..., PATH_INFO: '/a b', QUERY_STRING: 'x=1', HTTP_ACCEPT: 'text/html', GATEWAY_INTERFACE: 'CGI/1.1' }
 */
export function cgiEnvironment(request: CgiRequest): Record<string, string> {
  const env: Record<string, string> = { ...request.extra };
  for (const name of UNSET_WHEN_NULL) delete env[name];

  const grouped = groupHeaders(request.headers);
  // Names the Connection header lists are connection-scoped too (RFC 9110 7.6.1).
  const connectionListed = (grouped.get('connection') ?? []).join(',').split(',');
  const listed = new Set(connectionListed.map((name) => name.trim().toLowerCase()));
  for (const [name, values] of grouped) {
    if (NOT_PASSED.has(name) || listed.has(name) || !PASSABLE_NAME.test(name)) continue;
    env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = values.join(name === 'cookie' ? '; ' : ', ');
  }

  const { url } = request;
  const q = url.indexOf('?');
  const pathInfo = decodePathPart(request.pathInfo);
  const contentType = grouped.get('content-type')?.[0];
  // RFC 3875 4.1.2: set if and only if the request has a body, with its length after the
  // transfer coding is removed (the front end buffered it, so the length is known).
  const hasBody = request.bodyLength > 0 || grouped.has('content-length') || grouped.has('transfer-encoding');

  env.GATEWAY_INTERFACE = 'CGI/1.1';
  env.SERVER_SOFTWARE = request.serverSoftware ?? request.extra?.SERVER_SOFTWARE ?? serveServerSoftware;
  env.SERVER_NAME = request.serverName;
  env.SERVER_PORT = String(request.serverPort);
  env.SERVER_PROTOCOL = `HTTP/${request.httpVersion}`;
  env.REQUEST_METHOD = request.method;
  env.REQUEST_URI = url;
  env.QUERY_STRING = q === -1 ? '' : url.slice(q + 1);
  env.SCRIPT_NAME = decodePathPart(request.scriptName);
  env.SCRIPT_FILENAME = request.scriptFilename;
  env.PATH_INFO = pathInfo;
  if (request.documentRoot !== undefined) {
    env.DOCUMENT_ROOT = request.documentRoot;
    const translated = translatePath(request.documentRoot, pathInfo);
    if (translated !== undefined) env.PATH_TRANSLATED = translated;
  }
  env.REMOTE_ADDR = request.remoteAddr;
  env.REMOTE_HOST = request.remoteAddr;
  if (request.remoteUser !== undefined) env.REMOTE_USER = request.remoteUser;
  if (request.authType !== undefined) env.AUTH_TYPE = request.authType;
  if (hasBody) env.CONTENT_LENGTH = String(request.bodyLength);
  if (contentType !== undefined) env.CONTENT_TYPE = contentType;
  env.HTTPS = request.https ? 'on' : 'off';
  env.REDIRECT_STATUS = '200';
  return env;
}

/** Header values by lower-case name, in the order the names first appear. */
function groupHeaders(raw: readonly string[]): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const values = grouped.get(name);
    if (values) values.push(raw[i + 1]!);
    else grouped.set(name, [raw[i + 1]!]);
  }
  return grouped;
}

/**
 * PATH_INFO mapped into the document root (RFC 3875 4.1.6), or undefined when there is none
 * or it has a `.`/`..` segment: the front end redirects those, but `%2e%2e` decodes to one
 * after it looked, and scripts open PATH_TRANSLATED as a file (git http-backend does).
 */
function translatePath(root: string, pathInfo: string): string | undefined {
  if (pathInfo === '' || /(^|\/)\.\.?(\/|$)/.test(pathInfo)) return undefined;
  return root.replace(/\/+$/, '') + (pathInfo.startsWith('/') ? pathInfo : `/${pathInfo}`);
}

function decodePathPart(part: string): string {
  try {
    const decoded = decodeURIComponent(part);
    return decoded.includes('\0') ? part : decoded;
  } catch {
    return part;
  }
}
