/**
 * The server-side build of a deployed version (SPEC S11, docs/serve.md "The deploy protocol"):
 * in the version's staging directory, after its files are in place, do what App Engine's Node
 * build does, then compile the TypeScript module handlers ahead of time, so instances of a
 * deployed version start without a compile step.
 *
 * 1. `npm ci` when there is a lockfile (`npm install` without one; nothing without a
 *    package.json). With a `gcp-build` script the dev dependencies are installed too, since the
 *    script usually needs them (a TypeScript compiler); `npm run gcp-build`; then
 *    `npm prune --omit=dev`. Without the script, `npm ci --omit=dev` directly.
 * 2. TypeScript: every `.ts`/`.mts`/`.tsx` outside `node_modules` compiled beside its source
 *    (`main.ts` → `main.ts.hangar.mjs`, imports rewritten; src/versions/precompile.ts), run on
 *    the version's Node, so the code is compiled for the Node that will run it. The version's
 *    instances then load it with no loader-hooks thread; `precompiled.json` in the version dir
 *    says so, or why they need the hooks after all (src/versions/precompiled.ts).
 *
 * Every line the tools print goes to `log` as it comes. A step that fails ends the build with
 * a HangarError BUILD_FAILED naming the step, its exit and the last lines it printed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HangarError } from '../shared/errors.js';

const precompileMain = fileURLToPath(new URL('./precompile-main.js', import.meta.url));

/** How long one build step may take before it is stopped. */
export const BUILD_STEP_TIMEOUT_MS = 10 * 60_000;
/** Lines of a failed step's output repeated in its error. */
const TAIL_LINES = 20;

export interface BuildOptions {
  /** The version's files, in place (its app dir). */
  appDir: string;
  /** Where the build's record of the TypeScript step goes (`<version dir>/precompiled.json`). */
  manifest: string;
  /** The Node the version's instances run on (its `runtime:`). */
  nodeExecPath: string;
  /** Flags that Node accepts (NodeRuntime.flags); `--experimental-import-meta-resolve` lets the TypeScript step check packages. */
  nodeFlags?: readonly string[];
  /** Build phases as they start, e.g. `npm ci`. */
  phase(name: string): void;
  /** Each line a step prints. */
  log(line: string): void;
  /** The deploy was given up (the client went away, the platform stops). */
  signal?: AbortSignal;
  /** The environment of the build's tools; the platform's when left out. */
  env?: NodeJS.ProcessEnv;
  stepTimeoutMs?: number;
}

interface PackageJson {
  scripts?: Record<string, unknown>;
}

/**
 * Runs the build in `appDir`. Resolves when the version is ready to be started; rejects with
 * HangarError BUILD_FAILED (or the abort reason) otherwise.
 *
 * @example
 * await buildVersion({ appDir, manifest, nodeExecPath: process.execPath, phase: console.log, log: console.log });
 */
export async function buildVersion(options: BuildOptions): Promise<void> {
  const { appDir } = options;
  const packageFile = join(appDir, 'package.json');
  if (existsSync(packageFile)) {
    let pkg: PackageJson;
    try {
      pkg = JSON.parse(readFileSync(packageFile, 'utf8')) as PackageJson;
    } catch (err) {
      throw new HangarError(
        'BUILD_FAILED',
        `package.json is not valid JSON (${(err as Error).message}); fix it and deploy again`,
      );
    }
    const locked =
      existsSync(join(appDir, 'package-lock.json')) || existsSync(join(appDir, 'npm-shrinkwrap.json'));
    const gcpBuild = typeof pkg.scripts?.['gcp-build'] === 'string';
    const npmFlags = ['--no-audit', '--no-fund', '--no-update-notifier'];
    if (gcpBuild) {
      await step(options, 'npm', [locked ? 'ci' : 'install', ...npmFlags]);
      await step(options, 'npm', ['run', 'gcp-build']);
      await step(options, 'npm', ['prune', '--omit=dev', ...npmFlags]);
    } else {
      await step(options, 'npm', [locked ? 'ci' : 'install', '--omit=dev', ...npmFlags]);
    }
  }
  const resolveFlag = '--experimental-import-meta-resolve';
  await step(
    options,
    options.nodeExecPath,
    [...(options.nodeFlags?.includes(resolveFlag) ? [resolveFlag] : []), precompileMain],
    {
      phase: 'compile TypeScript',
      env: { HANGAR_PRECOMPILE: JSON.stringify({ appDir, manifest: options.manifest }) },
      // A file that does not compile does not fail the step: its version keeps the loader hooks,
      // and the load check after the build names the file if a handler needs it.
    },
  );
}

/** Runs one build step to its end, its lines to the log; rejects with the step's tail on failure. */
function step(
  options: BuildOptions,
  command: string,
  args: readonly string[],
  extra: { phase?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const name = extra.phase ?? [command, ...args.filter((a) => !a.startsWith('--no-'))].join(' ');
  options.phase(name);
  if (options.signal?.aborted) return Promise.reject(options.signal.reason);
  const tail: string[] = [];
  const line = (text: string) => {
    tail.push(text);
    if (tail.length > TAIL_LINES) tail.shift();
    options.log(text);
  };
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.appDir,
      env: {
        ...(options.env ?? process.env),
        ...extra.env,
        // npm's prompts and colours have no reader here.
        CI: 'true',
        NO_COLOR: '1',
        npm_config_color: 'false',
        npm_config_progress: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own: `npm run gcp-build` runs the script in a shell, a grandchild
      // that holds the output pipes; stopping the step must stop all of it (killGroup).
      detached: true,
    });
    const timeoutMs = options.stepTimeoutMs ?? BUILD_STEP_TIMEOUT_MS;
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    timer.unref();
    const onAbort = () => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) line(l.replace(/\r$/, ''));
      });
      stream.on('end', () => {
        if (rest) line(rest);
      });
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(
        new HangarError('BUILD_FAILED', `${name} could not start: ${err.message}`, {
          cause: err,
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Whatever the step left behind in its group (a daemon it started) goes with it.
      killGroup();
      if (options.signal?.aborted) return reject(options.signal.reason);
      if (code === 0) return resolve();
      const how = timedOut
        ? `was stopped after ${Math.round(timeoutMs / 1000)} s`
        : `failed (${signal ?? `exit ${code}`})`;
      reject(
        new HangarError(
          'BUILD_FAILED',
          `${name} ${how}${tail.length ? `; its last lines:\n${tail.join('\n')}` : ''}`,
        ),
      );
    });
  });
}
