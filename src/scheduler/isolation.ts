/**
 * How instance processes are kept from opening network connections of their own (issue 14).
 * The sockets shim (S12) routes `net`/`tls`/`dgram`/`dns` through the socket service, but a
 * child process, a worker thread, `process.binding('tcp_wrap')` or a native addon never meets
 * the shim. This module decides, once per platform process, how instances are confined, and
 * turns that into how their process is started (docs/sockets.md "Isolation").
 *
 * - `netns`: Linux, with `unshare` (util-linux). Each instance runs in a network namespace of
 *   its own whose only interface, `lo`, is down: every IP connect fails (`ENETUNREACH`),
 *   whatever code makes it. Unix sockets are path-based and reach the platform as before
 *   (request channel, HTTP socket, socket service, IPC). As root the instance also loses every
 *   capability (`setpriv`), else it could `setns()` back into the platform's namespace; without
 *   root it runs in a user namespace of its own (its uid unchanged), which gives it none there.
 *   `unshare` and `setpriv` exec Node in their own process, so the pid stays the instance's.
 * - `permission`: elsewhere, Node's permission model: child processes, `process.binding`,
 *   native addons, WASI and the inspector are refused by Node; worker threads have to stay
 *   allowed for the loader hooks' thread, so the instance refuses them itself
 *   (src/instance/isolation-guard.ts). Code inside the instance process can still connect past
 *   the shim: this mode is a barrier against the usual ways round it, not a sandbox.
 * - `none`: no confinement; only for debugging (`HANGAR_ISOLATION=none`).
 *
 * `HANGAR_ISOLATION` (`auto`, the default, or `netns` / `permission` / `none`) picks a mode;
 * a mode asked for and not available stops the platform with the reason.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { SupervisedChildOptions } from '../shared/supervised-child.js';

export type IsolationMode = 'netns' | 'permission' | 'none';

/** The environment variable that picks the mode. */
export const ISOLATION_ENV = 'HANGAR_ISOLATION';

const requests = ['auto', 'netns', 'permission', 'none'] as const;

/**
 * What the probe needs to know about this machine; `probeIsolationFacts()` reads the real ones,
 * tests pass their own.
 *
 * @example
 * const facts: IsolationFacts = { platform: 'darwin', root: false, tools: {}, trial: () => 'no', permissionFlag: '--experimental-permission', nodeFlags: new Set(), shell: '/bin/sh' };
 */
export interface IsolationFacts {
  platform: NodeJS.Platform;
  /** The effective uid is 0. */
  root: boolean;
  /** Absolute paths of the tools found on PATH. */
  tools: { unshare?: string; setpriv?: string; ip?: string };
  /** Runs `command ...args` to the end: undefined when it succeeded, else why it did not. */
  trial(command: string, args: readonly string[]): string | undefined;
  /** Node's flag for the permission model: `--permission` (Node ≥ 22.13), `--experimental-permission` (Node 20). */
  permissionFlag: string | undefined;
  /** Node flags this Node accepts (for the optional `--disable-warning`, and `--allow-net` from Node 25). */
  nodeFlags: ReadonlySet<string>;
  /** A POSIX shell for the permission mode's compile step, undefined where there is none. */
  shell: string | undefined;
}

/**
 * The chosen mode and how instances are started under it.
 *
 * @example
 * const isolation = instanceIsolation();
 * if (isolation.mode !== 'netns') logger.warn(describeIsolation(isolation));
 */
export interface Isolation {
  mode: IsolationMode;
  /** How it is done, in a few words. */
  how: string;
  /** What it does not stop. */
  leavesOpen: string;
  /** Why a stronger mode was not used; only when `auto` fell back. */
  fallback?: string;
  /** The wrapper placed before the Node executable (netns: unshare, setpriv; permission: a shell). */
  command?: string;
  commandArgs?: readonly string[];
  /** Node flags placed before the instance's own (permission mode). */
  permissionFlags?: readonly string[];
  /**
   * The wrapper for an instance that runs the app's own server (S4.3, `script: auto`): as
   * `command`/`commandArgs`, with the namespace's loopback interface up, so that the server
   * can listen on 127.0.0.1:PORT and the instance reach it there. The namespace still has no
   * way out; only its own loopback works. A string: why it cannot be had here (netns only).
   */
  ownProcesses?: { command: string; commandArgs: readonly string[] } | string;
}

/** A network namespace wrapper and the words that describe it. */
interface NetnsCandidate {
  args: readonly string[];
  how: string;
  /** The same with the loopback interface brought up inside (see Isolation.ownProcesses). */
  ownProcesses: readonly string[] | string;
}

/** `sh -c` that brings the namespace's loopback up, then runs the rest of its arguments. */
function loopbackUp(shell: string | undefined, ip: string | undefined): readonly string[] | string {
  if (!ip) return '`ip` (iproute2) is not on PATH, and a namespace with its loopback up needs it';
  if (!shell) return "there is no /bin/sh to bring the namespace's loopback up";
  return [shell, '-c', `${ip} link set lo up && exec "$@"`, 'hangar-instance'];
}

function netnsCandidates(facts: IsolationFacts): NetnsCandidate[] | string {
  if (facts.platform !== 'linux') return `network namespaces are Linux only (this is ${facts.platform})`;
  const { unshare, setpriv, ip } = facts.tools;
  if (!unshare) return '`unshare` (util-linux) is not on PATH';
  const candidates: NetnsCandidate[] = [];
  const up = loopbackUp(facts.shell, ip);
  if (facts.root && setpriv) {
    const privs = [setpriv, '--no-new-privs', '--bounding-set=-all', '--inh-caps=-all', '--'];
    candidates.push({
      // Brought up as root, before setpriv drops every capability.
      ownProcesses: typeof up === 'string' ? up : [unshare, '--net', '--', ...up, ...privs],
      // unshare(CLONE_NEWNET) needs root; then every capability goes, so that the instance
      // cannot setns() back into the platform's namespace nor bring an interface up.
      args: [
        unshare,
        '--net',
        '--',
        setpriv,
        '--no-new-privs',
        '--bounding-set=-all',
        '--inh-caps=-all',
        '--',
      ],
      how: 'a network namespace per instance with no interface up (unshare --net), without capabilities (setpriv)',
    });
  }
  // Without root (or without setpriv): a user namespace of its own owns the network namespace,
  // so the instance holds no capability over the platform's; its uid stays what it was.
  candidates.push({
    // Bringing an interface up needs root inside the user namespace: the instance's uid reads 0 there.
    ownProcesses: typeof up === 'string' ? up : [unshare, '--user', '--map-root-user', '--net', '--', ...up],
    args: [unshare, '--user', '--map-current-user', '--net', '--'],
    how: 'a network namespace per instance with no interface up, in a user namespace of its own (unshare --user --map-current-user --net)',
  });
  return candidates;
}

/**
 * Picks the mode: what `requested` (HANGAR_ISOLATION) asks for, or with `auto` the strongest
 * the machine allows. Runs trials through `facts.trial` only as far as needed.
 *
 * @example
 * decideIsolation('auto', probeIsolationFacts()).mode; // 'netns' as root on Linux
 */
export function decideIsolation(requested: string | undefined, facts: IsolationFacts): Isolation {
  const request = (requested ?? '').trim().toLowerCase() || 'auto';
  if (!(requests as readonly string[]).includes(request)) {
    throw new HangarError(
      'USAGE',
      `${ISOLATION_ENV} must be one of ${requests.join(', ')}, not '${requested}'; fix ${ISOLATION_ENV} or unset it (auto)`,
    );
  }
  if (request === 'none') return noIsolation();
  const whyNotNetns: string[] = [];
  if (request === 'auto' || request === 'netns') {
    const candidates = netnsCandidates(facts);
    if (typeof candidates === 'string') whyNotNetns.push(candidates);
    else {
      for (const candidate of candidates) {
        const [command, ...commandArgs] = candidate.args;
        const failed = facts.trial(command!, [...commandArgs, 'true']);
        if (failed === undefined) return netns(command!, commandArgs, candidate.how, candidate.ownProcesses);
        whyNotNetns.push(`\`${candidate.args.slice(0, -1).join(' ')} true\` failed: ${failed}`);
      }
    }
    if (request === 'netns') {
      throw new HangarError(
        'USAGE',
        `${ISOLATION_ENV}=netns, but instances cannot be put in a network namespace here: ${whyNotNetns.join('; ')}; ` +
          `run the platform on Linux with util-linux, as root or where user namespaces are allowed, or set ${ISOLATION_ENV}=permission`,
      );
    }
  }
  if (!facts.permissionFlag) {
    if (request === 'permission')
      throw new HangarError(
        'USAGE',
        `${ISOLATION_ENV}=permission, but this Node (${process.version}) has no permission model; use Node 20 or later`,
      );
    return { ...noIsolation(), fallback: [...whyNotNetns, 'this Node has no permission model'].join('; ') };
  }
  const quiet = facts.nodeFlags.has('--disable-warning')
    ? // The platform's start-up warning says it once; not every instance's stderr at every start.
      ['--disable-warning=ExperimentalWarning', '--disable-warning=SecurityWarning']
    : [];
  return {
    mode: 'permission',
    how: `Node's permission model (${facts.permissionFlag}): child processes, process.binding, native addons and writes outside the temp dir refused by Node, worker threads by the instance`,
    leavesOpen:
      "code in the instance process itself can still connect past the socket service (e.g. with Node's own connect, which the platform's modules keep)",
    ...(request === 'auto' ? { fallback: whyNotNetns.join('; ') } : {}),
    permissionFlags: [
      facts.permissionFlag,
      // From Node 25 the model checks the network too, Unix sockets included: the instance's
      // request channel and the socket service are Unix sockets. Before 25 nothing was checked.
      ...(facts.nodeFlags.has('--allow-net') ? ['--allow-net'] : []),
      '--allow-fs-read=*',
      // module.register runs the instance's loader hooks on a worker thread; the guard below
      // refuses the app's own workers. (`listen` on a Unix socket is not checked by Node.)
      '--allow-worker',
      ...quiet,
      '--import',
      guardUrl,
    ],
    ...(facts.shell
      ? {
          command: facts.shell,
          // The compile step runs as a process of its own with the IPC channel hidden from it,
          // then the shell execs the instance (same pid, fd 3 passed on).
          commandArgs: [
            '-c',
            'p=$1; shift; NODE_CHANNEL_FD= "$1" "$p"; exec "$@"',
            'hangar-instance',
            precompileMain,
          ],
        }
      : {}),
  };
}

function netns(
  command: string,
  commandArgs: readonly string[],
  how: string,
  ownProcesses: readonly string[] | string,
): Isolation {
  return {
    mode: 'netns',
    ownProcesses:
      typeof ownProcesses === 'string'
        ? ownProcesses
        : { command: ownProcesses[0]!, commandArgs: ownProcesses.slice(1) },
    how,
    leavesOpen:
      "Unix sockets by path (the platform's, and any other the platform's user may open: instances run as that user)",
    command,
    commandArgs,
  };
}

function noIsolation(): Isolation {
  return {
    mode: 'none',
    how: 'none',
    leavesOpen:
      'app code can open connections past the socket service and its policy (child processes, worker threads, process.binding, native addons)',
  };
}

const guardUrl = new URL('../instance/isolation-guard.js', import.meta.url).href;
const precompileMain = fileURLToPath(new URL('../instance/isolation-precompile.js', import.meta.url));

/** The first executable `name` on PATH, as an absolute path. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The real facts of this machine and Node. The trials are run lazily by `decideIsolation`.
 *
 * @example
 * const facts = probeIsolationFacts();
 */
export function probeIsolationFacts(): IsolationFacts {
  const flags = process.allowedNodeEnvironmentFlags;
  const unshare = onPath('unshare');
  const setpriv = onPath('setpriv');
  const ip = onPath('ip');
  return {
    platform: process.platform,
    root: process.geteuid?.() === 0,
    tools: { ...(unshare ? { unshare } : {}), ...(setpriv ? { setpriv } : {}), ...(ip ? { ip } : {}) },
    trial(command, args) {
      const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5_000 });
      if (result.error) return result.error.message;
      if (result.status === 0) return undefined;
      const stderr = result.stderr.toString().trim().split('\n')[0];
      return stderr || `exit ${result.signal ?? result.status}`;
    },
    permissionFlag: flags.has('--permission')
      ? '--permission'
      : flags.has('--experimental-permission')
        ? '--experimental-permission'
        : undefined,
    nodeFlags: new Set(['--disable-warning', '--allow-net'].filter((flag) => flags.has(flag))),
    shell: (() => {
      try {
        accessSync('/bin/sh', constants.X_OK);
        return '/bin/sh';
      } catch {
        return undefined;
      }
    })(),
  };
}

let chosen: Isolation | undefined;

/**
 * The isolation of this platform's instances: `HANGAR_ISOLATION` and the machine, probed on the
 * first call and kept. Throws (HANGAR_E_USAGE) when the variable is malformed or asks for a
 * mode that is not available.
 *
 * @example
 * const isolation = instanceIsolation();
 */
export function instanceIsolation(): Isolation {
  chosen ??= decideIsolation(process.env[ISOLATION_ENV], probeIsolationFacts());
  return chosen;
}

/**
 * The Node an instance runs on when its version's `runtime:` is not the platform's own Node
 * (src/versions/node-runtimes.ts resolves it).
 *
 * @example
 * const node: InstanceNode = { execPath: '/data/runtimes/node-v24.11.1/bin/node', version: 'v24.11.1', flags: ['--permission', '--allow-worker', '--disable-warning'] };
 */
export interface InstanceNode {
  execPath: string;
  /** `process.version` in it. */
  version: string;
  /** Which of the permission model's flags (and `--disable-warning`) it accepts. */
  flags: readonly string[];
}

/**
 * The permission mode's Node flags for `node`: the platform decided them for its own Node, and
 * another major names the model differently (`--experimental-permission` on Node 20,
 * `--permission` from 22.13), needs `--allow-net` (from 25), lacks `--disable-warning` (before
 * 20.11) or the model itself (Node 18). Undefined outside the permission mode. Throws HangarError RUNTIME_UNAVAILABLE when
 * `node` cannot be confined as this platform confines instances.
 *
 * @example
 * permissionFlagsFor(instanceIsolation(), node); // ['--permission', '--allow-fs-read=*', ...]
 */
export function permissionFlagsFor(isolation: Isolation, node?: InstanceNode): readonly string[] | undefined {
  const flags = isolation.permissionFlags;
  if (!flags || !node) return flags;
  const own = node.flags.includes('--permission')
    ? '--permission'
    : node.flags.includes('--experimental-permission')
      ? '--experimental-permission'
      : undefined;
  if (!own || !node.flags.includes('--allow-worker')) {
    throw new HangarError(
      'RUNTIME_UNAVAILABLE',
      `Node ${node.version} (${node.execPath}) has no permission model, which is how this platform confines instances ` +
        `(instance isolation: permission${isolation.fallback ? `, because ${isolation.fallback}` : ''}); ` +
        `use runtime: nodejs20 or later, or run the platform where network namespaces work (netns: Linux with util-linux)`,
    );
  }
  const quiet = node.flags.includes('--disable-warning');
  const rest = flags
    .slice(1)
    .filter((flag) => flag !== '--allow-net' && (quiet || !flag.startsWith('--disable-warning')));
  // See decideIsolation: Node 25+ would refuse the instance its own Unix sockets without it.
  return [own, ...(node.flags.includes('--allow-net') ? ['--allow-net'] : []), ...rest];
}

/**
 * An instance's start options under `isolation`: the wrapper command, and in permission mode
 * Node's flags with the writable paths (the TypeScript cache and the temp dir). With `node`,
 * the instance runs on that Node instead of the platform's, with flags it accepts. With
 * `needs.precompiled` (a deployed version compiled at deploy, src/versions/precompile.ts) the
 * permission mode's compile step and the cache's write permission are left out: nothing is
 * compiled, and every such instance is started alike (a warm spare can stand in for it).
 *
 * @example
 * new SupervisedChild(isolateInstance({ args, cwd, env, onLine }, spec.cacheDir));
 */
export function isolateInstance(
  options: SupervisedChildOptions,
  cacheDir: string,
  isolation: Isolation = instanceIsolation(),
  node?: InstanceNode,
  needs: { ownProcesses?: boolean; precompiled?: boolean } = {},
): SupervisedChildOptions {
  // The permission mode's wrapper is its compile step (see decideIsolation).
  const noCompileStep = isolation.mode === 'permission' && needs.precompiled === true;
  let wrapper: { command?: string; commandArgs?: readonly string[] } =
    isolation.command && !noCompileStep
      ? { command: isolation.command, commandArgs: isolation.commandArgs ?? [] }
      : {};
  if (needs.ownProcesses && isolation.mode === 'netns') {
    const own = isolation.ownProcesses;
    if (typeof own !== 'object') {
      throw new HangarError(
        'INSTANCE_START_FAILED',
        `this app runs processes of its own (script: auto, CGI), and instances in network namespaces need their loopback up for them: ${own ?? 'not available'}; install iproute2, or set ${ISOLATION_ENV}=permission`,
      );
    }
    wrapper = { command: own.command, commandArgs: own.commandArgs };
  }
  const executable = node ? { execPath: node.execPath } : {};
  const permissionFlags = permissionFlagsFor(isolation, node);
  if (!permissionFlags) return { ...options, ...wrapper, ...executable };
  const [flag, ...rest] = permissionFlags;
  return {
    ...options,
    ...wrapper,
    ...executable,
    args: [
      flag!,
      // The app's own server and CGI scripts are child processes of the instance (S4.2, S4.3);
      // Node's model does not reach into them (docs/security.md).
      ...(needs.ownProcesses ? ['--allow-child-process'] : []),
      // One flag per path (Node 20 refuses a comma-separated list).
      ...(needs.precompiled ? [] : [`--allow-fs-write=${cacheDir}`]),
      `--allow-fs-write=${tmpdir()}`,
      ...rest,
      ...options.args,
    ],
  };
}

/**
 * The start-up line that names the mode and what it leaves open: a warning unless it is netns.
 *
 * @example
 * reportIsolation(instanceIsolation(), logger);
 */
export function reportIsolation(isolation: Isolation, logger: Logger): void {
  logger[isolation.mode === 'netns' ? 'info' : 'warn'](describeIsolation(isolation));
}

/**
 * @example
 * describeIsolation(isolation); // 'instance isolation: netns (a network namespace per instance ...); open: ...'
 */
export function describeIsolation(isolation: Isolation): string {
  const because = isolation.fallback ? ` because ${isolation.fallback}` : '';
  if (isolation.mode === 'netns')
    return `instance isolation: netns (${isolation.how}); still open: ${isolation.leavesOpen}`;
  return (
    `instance isolation: ${isolation.mode}${because}` +
    (isolation.mode === 'none' ? '' : ` (${isolation.how})`) +
    `; still open: ${isolation.leavesOpen}. Network namespaces (netns: Linux with util-linux, as root ` +
    `or with user namespaces) close that; ${ISOLATION_ENV}=netns|permission|none picks a mode`
  );
}
