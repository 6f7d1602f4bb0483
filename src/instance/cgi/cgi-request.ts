/**
 * One request to a CGI handler (SPEC S4.2) inside an instance: the meta-variables of RFC 3875
 * and the S8 environment (meta-variables.ts), the script run with the body on its stdin
 * (run-script.ts), its stderr lines as the request's log lines at level warning, and the
 * outcome the channel server turns into a response frame.
 *
 * Where the SPEC is silent: SCRIPT_NAME is empty and PATH_INFO is the whole request path, as
 * App Engine's CGI runtime set them (a handler's `url:` is a pattern, not a prefix to strip);
 * a script that needs its own part of the path reads it from PATH_INFO.
 */
import { join } from 'node:path';
import type { RequestFrame } from '../../shared/request-channel.js';
import { requestIdHash } from '../../shared/request-id.js';
import type { RequestState } from '../request-state.js';
import type { cgiEnvironment as CgiEnvironment } from './meta-variables.js';
import type { CgiOutcome } from './run-script.js';

/**
 * The CGI machinery, loaded with an app's first CGI request: every instance imports this
 * module (the request channel's server does), and most never run a script (docs/decisions.md,
 * issue 21: an idle instance's memory).
 */
let machinery:
  | Promise<
      [
        typeof import('./js-cgi.js'),
        typeof import('./meta-variables.js'),
        typeof import('./response-parser.js'),
        typeof import('./run-script.js'),
      ]
    >
  | undefined;
const loadMachinery = () =>
  (machinery ??= Promise.all([
    import('./js-cgi.js'),
    import('./meta-variables.js'),
    import('./response-parser.js'),
    import('./run-script.js'),
  ]));

export interface CgiRun {
  /** The script, relative to the app dir (app.yaml's `script:`). */
  script: string;
  appDir: string;
  /** The instance's S8 variables and env_variables (the init's `env`), without the platform's own environment. */
  instanceEnv: Readonly<Record<string, string>>;
  head: RequestFrame;
  body: Buffer;
  signal: AbortSignal;
  maxResponseBytes: number;
  /** Each line the script writes to stderr, as it comes. */
  onStderrLine(line: string): void;
  /** The request's context: a `.js`/`.ts` script runs in it (its env, its log lines). */
  state: RequestState;
}

/**
 * Runs the script for one request and says what to answer.
 *
 * @example
 * const outcome = await runCgiRequest({ script: 'cgi-bin/hello.sh', appDir, instanceEnv, head, body, signal, maxResponseBytes, onStderrLine });
 */
export async function runCgiRequest(run: CgiRun): Promise<CgiOutcome> {
  const [{ isJsCgiScript, runJsCgi }, { cgiEnvironment }, { parseCgiOutput }, { cgiOutcome, runCgiScript }] =
    await loadMachinery();
  const env = cgiEnvironmentOf(run, cgiEnvironment);
  if (isJsCgiScript(run.script)) {
    const { output, tooLarge, error } = await runJsCgi({
      script: run.script,
      appDir: run.appDir,
      body: run.body,
      state: run.state,
      cgiEnv: env,
      maxOutputBytes: run.maxResponseBytes,
    });
    if (error !== undefined) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      return { kind: 'failed', code: 'HANDLER_FAILED', reason: `it threw: ${detail}` };
    }
    if (tooLarge)
      return {
        kind: 'failed',
        code: 'RESPONSE_TOO_LARGE',
        reason: `it wrote more than ${run.maxResponseBytes} bytes`,
      };
    const parsed = parseCgiOutput(output);
    return parsed.kind === 'error'
      ? { kind: 'failed', code: 'HANDLER_FAILED', reason: parsed.message }
      : parsed;
  }
  const result = await runCgiScript({
    scriptPath: join(run.appDir, run.script),
    env,
    body: run.body,
    ...(run.head.deadline === undefined ? {} : { deadlineAt: run.head.deadline }),
    signal: run.signal,
    maxOutputBytes: run.maxResponseBytes,
    onStderrLine: run.onStderrLine,
  });
  if (result.kind === 'spawn-failed')
    return { kind: 'failed', code: 'HANDLER_FAILED', reason: result.message };
  return cgiOutcome(result);
}

/** The meta-variables of RFC 3875 and the S8 variables of one request. */
function cgiEnvironmentOf(run: CgiRun, cgiEnvironment: typeof CgiEnvironment): Record<string, string> {
  const { head } = run;
  const q = head.url.indexOf('?');
  const host = hostOf(head.headers);
  const colon = host.lastIndexOf(':');
  const hasPort = colon > host.lastIndexOf(']');
  const scriptFilename = join(run.appDir, run.script);
  return cgiEnvironment({
    method: head.method,
    url: head.url,
    httpVersion: head.httpVersion,
    headers: head.headers,
    bodyLength: run.body.length,
    remoteAddr: head.remoteAddr,
    https: head.https,
    serverName: hasPort ? host.slice(0, colon) : host,
    serverPort: hasPort ? host.slice(colon + 1) : head.https ? 443 : 80,
    scriptName: '',
    pathInfo: q === -1 ? head.url : head.url.slice(0, q),
    scriptFilename,
    documentRoot: run.appDir,
    // RFC 3875 4.1.2/4.1.11 for a user the platform signed in (S11).
    ...signedIn(head.headers),
    extra: {
      ...run.instanceEnv,
      // The request's own S8 variables (the rest of S8 is the meta-variables themselves).
      REQUEST_LOG_ID: head.requestId,
      REQUEST_ID_HASH: requestIdHash(head.requestId),
      // The signed-in user (S11), from the headers only the front end can set.
      USER_EMAIL: headerOf(head.headers, 'x-appengine-user-email'),
      USER_ID: headerOf(head.headers, 'x-appengine-user-id'),
      USER_NICKNAME: headerOf(head.headers, 'x-appengine-user-nickname'),
      USER_IS_ADMIN: headerOf(head.headers, 'x-appengine-user-is-admin') === '1' ? '1' : '0',
      TZ: 'UTC',
    },
  });
}

/** REMOTE_USER and AUTH_TYPE when the front end passed a signed-in user; nothing otherwise. */
function signedIn(headers: readonly string[]): { remoteUser?: string; authType?: string } {
  const email = headerOf(headers, 'x-appengine-user-email');
  return email === '' ? {} : { remoteUser: email, authType: 'Hangar-Session' };
}

/** The first value of header `lower` in a name, value, ... list; '' when absent. */
function headerOf(headers: readonly string[], lower: string): string {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === lower) return headers[i + 1]!;
  }
  return '';
}

function hostOf(headers: readonly string[]): string {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'host') return headers[i + 1]!;
  }
  return 'localhost';
}
