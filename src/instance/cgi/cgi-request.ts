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
import { cgiEnvironment } from './meta-variables.js';
import { type CgiOutcome, cgiOutcome, runCgiScript } from './run-script.js';

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
}

/**
 * Runs the script for one request and says what to answer.
 *
 * @example
 * const outcome = await runCgiRequest({ script: 'cgi-bin/hello.sh', appDir, instanceEnv, head, body, signal, maxResponseBytes, onStderrLine });
 */
export async function runCgiRequest(run: CgiRun): Promise<CgiOutcome> {
  const { head } = run;
  const q = head.url.indexOf('?');
  const host = hostOf(head.headers);
  const colon = host.lastIndexOf(':');
  const hasPort = colon > host.lastIndexOf(']');
  const scriptFilename = join(run.appDir, run.script);
  const env = cgiEnvironment({
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
    extra: {
      ...run.instanceEnv,
      // The request's own S8 variables (the rest of S8 is the meta-variables themselves).
      REQUEST_LOG_ID: head.requestId,
      REQUEST_ID_HASH: requestIdHash(head.requestId),
      USER_EMAIL: '',
      USER_ID: '',
      USER_NICKNAME: '',
      USER_IS_ADMIN: '0',
      TZ: 'UTC',
    },
  });
  const result = await runCgiScript({
    scriptPath: scriptFilename,
    env,
    body: run.body,
    ...(head.deadline === undefined ? {} : { deadlineAt: head.deadline }),
    signal: run.signal,
    maxOutputBytes: run.maxResponseBytes,
    onStderrLine: run.onStderrLine,
  });
  if (result.kind === 'spawn-failed')
    return { kind: 'failed', code: 'HANDLER_FAILED', reason: result.message };
  return cgiOutcome(result);
}

function hostOf(headers: readonly string[]): string {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'host') return headers[i + 1]!;
  }
  return 'localhost';
}
