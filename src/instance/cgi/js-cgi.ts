/**
 * `.js`/`.ts` CGI scripts, run inside the instance (SPEC S4.2, S7): what the script writes to
 * `process.stdout` (and with `console.log`/`info`/`debug`, as `print` writes to stdout in a CGI
 * script) is its CGI output, parsed like an executable's; `console.warn`/`error` are the
 * request's log lines; `process.stdin` is the request body; `process.env` holds the request's
 * meta-variables and S8 variables.
 *
 * The `main()` rule: a script that exports `main`, a function taking no arguments, is imported
 * once — its top level runs once, like a module's — and `main()` is called for every request,
 * the first one included; module state (caches, connections) lives on between requests. A
 * script without it is evaluated afresh for every request: its top level is the request's
 * handling. ES modules cannot be unloaded, so each such evaluation stays in the instance's
 * memory until the instance is replaced (its memory limit does that; prefer `main()`).
 *
 * Capturing is global, which is safe because an app with a CGI handler is `threadsafe: false`
 * (S3): the instance runs one request at a time.
 */
import { Readable } from 'node:stream';
import { format } from 'node:util';
import { appModuleUrl } from '../app-modules.js';
import { requestStorage } from '../request-context.js';
import type { RequestState } from '../request-state.js';

/** Scripts run inside the instance rather than as executables. */
const jsScript = /\.(?:[cm]?js|m?tsx?)$/;

/**
 * @example
 * isJsCgiScript('cgi-bin/hello.ts') // true
 */
export function isJsCgiScript(script: string): boolean {
  return jsScript.test(script);
}

/** Scripts that export main(): imported once, main() called per request. */
const mains = new Map<string, () => unknown>();
/** Evaluations so far: each import of a script without main() needs a URL of its own. */
let evaluations = 0;

export interface JsCgiRun {
  script: string;
  appDir: string;
  body: Buffer;
  /** The request's context; its env gets `cgiEnv` on top. */
  state: RequestState;
  cgiEnv: Readonly<Record<string, string>>;
  /** Output past this many bytes is not kept (S15 max_response_bytes): the answer is then a 500. */
  maxOutputBytes: number;
}

/**
 * Runs the script for one request; `output` is what it wrote to stdout, `error` what it threw
 * (its output is then not a response).
 *
 * @example
 * const { output, error } = await runJsCgi({ script: 'cgi-bin/counter.js', appDir, body, state, cgiEnv });
 */
export async function runJsCgi(
  run: JsCgiRun,
): Promise<{ output: Buffer; tooLarge: boolean; error?: unknown }> {
  const kept = { chunks: [] as Buffer[], bytes: 0, tooLarge: false, max: run.maxOutputBytes };
  Object.assign(run.state.env, run.cgiEnv);
  const restore = capture(kept, run.body);
  try {
    await requestStorage.run(run.state, async () => {
      const main = mains.get(run.script);
      if (main) return await main();
      const url = `${appModuleUrl(run.appDir, run.script)}?hangar-cgi=${++evaluations}`;
      const namespace = (await import(url)) as { main?: unknown; default?: { main?: unknown } };
      const exported = namespace.main ?? namespace.default?.main;
      if (typeof exported === 'function' && exported.length === 0) {
        mains.set(run.script, exported as () => unknown);
        await (exported as () => unknown)();
      }
    });
    return { output: Buffer.concat(kept.chunks), tooLarge: kept.tooLarge };
  } catch (error) {
    return { output: Buffer.concat(kept.chunks), tooLarge: kept.tooLarge, error };
  } finally {
    restore();
  }
}

/**
 * Sends stdout and console.log/info/debug into `kept` (no more than `kept.max` bytes: a script
 * that writes without end fills no memory) and makes process.stdin the body; returns the undo.
 */
function capture(
  kept: { chunks: Buffer[]; bytes: number; tooLarge: boolean; max: number },
  body: Buffer,
): () => void {
  const stdout = process.stdout;
  const write = stdout.write;
  const { log, info, debug } = console;
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin');
  const keep = (chunk: unknown, encoding?: unknown) => {
    if (kept.tooLarge) return;
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array);
    kept.bytes += bytes.length;
    if (kept.bytes > kept.max) {
      kept.tooLarge = true;
      kept.chunks = [];
      return;
    }
    kept.chunks.push(bytes);
  };
  stdout.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
    keep(chunk, encoding);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof stdout.write;
  const print = (...args: unknown[]) => keep(`${format(...args)}\n`);
  console.log = print;
  console.info = print;
  console.debug = print;
  Object.defineProperty(process, 'stdin', {
    configurable: true,
    enumerable: true,
    get: () => Readable.from(body.length > 0 ? [body] : []),
  });
  return () => {
    stdout.write = write;
    console.log = log;
    console.info = info;
    console.debug = debug;
    if (stdin) Object.defineProperty(process, 'stdin', stdin);
  };
}
