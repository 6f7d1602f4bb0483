/**
 * The isolation probe (isolation.ts) with stubbed facts: which mode each kind of machine gets,
 * which trials it runs, what HANGAR_ISOLATION forces; the start options each mode makes; and,
 * where this machine allows it, a real instance-like child through the netns wrapper: same
 * pid, IPC through, no way to a loopback server the test opens.
 */
import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSupervisedChild } from '../shared/supervised-child.js';
import {
  decideIsolation,
  describeIsolation,
  type IsolationFacts,
  isolateInstance,
  permissionFlagsFor,
  probeIsolationFacts,
} from './isolation.js';

/** A machine: Linux, root, util-linux, Node 20, every trial succeeding unless `failing` names it. */
function machine(
  overrides: Partial<Omit<IsolationFacts, 'trial'>> = {},
  failing: (args: readonly string[]) => string | undefined = () => undefined,
): IsolationFacts & { trials: string[][] } {
  const trials: string[][] = [];
  return {
    platform: 'linux',
    root: true,
    tools: { unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv' },
    permissionFlag: '--experimental-permission',
    nodeFlags: new Set(['--disable-warning']),
    shell: '/bin/sh',
    ...overrides,
    trials,
    trial(command, args) {
      trials.push([command, ...args]);
      return failing(args);
    },
  };
}

const userns = ['/usr/bin/unshare', '--user', '--map-current-user', '--net', '--'];

describe('decideIsolation', () => {
  it('root on Linux with util-linux: netns, capabilities dropped by setpriv, after one trial', () => {
    const facts = machine();
    const isolation = decideIsolation(undefined, facts);
    expect(isolation).toMatchObject({ mode: 'netns', command: '/usr/bin/unshare' });
    expect(isolation.commandArgs).toEqual([
      '--net',
      '--',
      '/usr/bin/setpriv',
      '--no-new-privs',
      '--bounding-set=-all',
      '--inh-caps=-all',
      '--',
    ]);
    expect(isolation.fallback).toBeUndefined();
    expect(facts.trials).toEqual([[...['/usr/bin/unshare'], ...isolation.commandArgs!, 'true']]);
  });

  it("an instance running the app's own server: the namespace's loopback brought up first (S4.3)", () => {
    const withIp = machine({
      tools: { unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', ip: '/usr/sbin/ip' },
    });
    const root = decideIsolation(undefined, withIp);
    const up = ['/bin/sh', '-c', '/usr/sbin/ip link set lo up && exec "$@"', 'hangar-instance'];
    // As root: up before setpriv drops every capability.
    expect(root.ownProcesses).toEqual({
      command: '/usr/bin/unshare',
      commandArgs: [
        '--net',
        '--',
        ...up,
        '/usr/bin/setpriv',
        '--no-new-privs',
        '--bounding-set=-all',
        '--inh-caps=-all',
        '--',
      ],
    });
    const options = isolateInstance({ args: ['main.js'] }, '/cache', root, undefined, { ownProcesses: true });
    expect([options.command, ...(options.commandArgs ?? [])]).toEqual([
      '/usr/bin/unshare',
      ...(root.ownProcesses as { commandArgs: readonly string[] }).commandArgs,
    ]);
    // Without root: root inside a user namespace of its own, which may bring its interface up.
    const user = decideIsolation(undefined, { ...withIp, root: false });
    expect(user.ownProcesses).toEqual({
      command: '/usr/bin/unshare',
      commandArgs: ['--user', '--map-root-user', '--net', '--', ...up],
    });
    // Without ip: module instances as before, an own-server instance refused with the reason.
    const noIp = decideIsolation(undefined, machine());
    expect(noIp.ownProcesses).toMatch(/`ip` \(iproute2\) is not on PATH/);
    expect(() =>
      isolateInstance({ args: ['main.js'] }, '/cache', noIp, undefined, { ownProcesses: true }),
    ).toThrow(/install iproute2, or set HANGAR_ISOLATION=permission/);
    expect(isolateInstance({ args: ['main.js'] }, '/cache', noIp).commandArgs).toEqual(noIp.commandArgs);
    // The permission model lets the instance start the server (it does not reach into it).
    const permission = decideIsolation('permission', machine());
    expect(
      isolateInstance({ args: ['main.js'] }, '/cache', permission, undefined, { ownProcesses: true }).args,
    ).toContain('--allow-child-process');
    expect(isolateInstance({ args: ['main.js'] }, '/cache', permission).args).not.toContain(
      '--allow-child-process',
    );
  });

  it('root whose unshare --net fails (a container without CAP_SYS_ADMIN): the user-namespace form', () => {
    const facts = machine({}, (args) =>
      args[0] === '--net' ? 'unshare failed: Operation not permitted' : undefined,
    );
    const isolation = decideIsolation('auto', facts);
    expect(isolation.mode).toBe('netns');
    expect([isolation.command, ...isolation.commandArgs!]).toEqual(userns);
    expect(facts.trials).toHaveLength(2);
  });

  it('root without setpriv: never a namespace it could setns() out of; the user-namespace form', () => {
    const facts = machine({ tools: { unshare: '/usr/bin/unshare' } });
    expect([
      decideIsolation('auto', facts).command,
      ...(decideIsolation('auto', facts).commandArgs ?? []),
    ]).toEqual(userns);
    expect(facts.trials.every((trial) => !trial.includes('/usr/bin/setpriv'))).toBe(true);
  });

  it('not root on Linux: the user-namespace form, the root form not even tried', () => {
    const facts = machine({ root: false });
    const isolation = decideIsolation('', facts);
    expect([isolation.command, ...isolation.commandArgs!]).toEqual(userns);
    expect(facts.trials).toEqual([[...userns, 'true']]);
  });

  it('no namespace possible: permission mode, saying why not netns', () => {
    const facts = machine({ root: false }, () => 'unshare failed: Operation not permitted');
    const isolation = decideIsolation('auto', facts);
    expect(isolation.mode).toBe('permission');
    expect(isolation.fallback).toContain('unshare failed: Operation not permitted');
    expect(isolation.permissionFlags).toEqual(
      expect.arrayContaining([
        '--experimental-permission',
        '--allow-fs-read=*',
        '--allow-worker',
        '--import',
      ]),
    );
    expect(isolation.permissionFlags).not.toContain('--allow-child-process');
    expect(isolation.permissionFlags).not.toContain('--allow-addons');
    expect(isolation.command).toBe('/bin/sh');
  });

  it('macOS and Linux without unshare: permission mode without any trial', () => {
    for (const facts of [machine({ platform: 'darwin' }), machine({ tools: {} })]) {
      const isolation = decideIsolation(undefined, facts);
      expect(isolation.mode).toBe('permission');
      expect(isolation.fallback).toMatch(/Linux only|not on PATH/);
      expect(facts.trials).toEqual([]);
    }
  });

  it('Node 22: --permission; a Node without --disable-warning gets no such flag; no shell, no compile step', () => {
    const isolation = decideIsolation(
      'permission',
      machine({ permissionFlag: '--permission', nodeFlags: new Set(), shell: undefined }),
    );
    expect(isolation.permissionFlags?.[0]).toBe('--permission');
    expect(isolation.permissionFlags?.some((flag) => flag.startsWith('--disable-warning'))).toBe(false);
    expect(isolation.command).toBeUndefined();
  });

  it('HANGAR_ISOLATION=permission and =none are taken as asked, with no trial', () => {
    for (const [asked, mode] of [
      ['permission', 'permission'],
      ['NONE', 'none'],
    ] as const) {
      const facts = machine();
      const isolation = decideIsolation(asked, facts);
      expect(isolation.mode).toBe(mode);
      expect(isolation.fallback).toBeUndefined();
      expect(facts.trials).toEqual([]);
    }
  });

  it('HANGAR_ISOLATION=netns where no namespace works stops the start with every reason', () => {
    expect(() => decideIsolation('netns', machine({ platform: 'darwin' }))).toThrow(
      /HANGAR_ISOLATION=netns, but .*Linux only \(this is darwin\)/,
    );
    const failing = machine({}, (args) => `no (${args[0]})`);
    expect(() => decideIsolation('netns', failing)).toThrow(/no \(--net\).*no \(--user\)/);
  });

  it('a malformed HANGAR_ISOLATION is a usage error naming the values', () => {
    expect(() => decideIsolation('sandbox', machine())).toThrow(
      expect.objectContaining({
        code: 'HANGAR_E_USAGE',
        message: expect.stringContaining('auto, netns, permission, none'),
      }),
    );
  });

  it('a Node without a permission model: none, or an error when permission was asked for', () => {
    expect(decideIsolation('auto', machine({ platform: 'darwin', permissionFlag: undefined }))).toMatchObject(
      {
        mode: 'none',
        fallback: expect.stringContaining('no permission model'),
      },
    );
    expect(() => decideIsolation('permission', machine({ permissionFlag: undefined }))).toThrow(
      /no permission model/,
    );
  });
});

describe('isolateInstance and the start-up line', () => {
  const options = { args: ['--enable-source-maps', 'main.js'], cwd: '/app' };

  it('netns: the wrapper before Node, Node arguments untouched', () => {
    const isolated = isolateInstance(options, '/data/cache/ts', decideIsolation('auto', machine()));
    expect(isolated).toMatchObject({ command: '/usr/bin/unshare', cwd: '/app', args: options.args });
    expect(isolated.commandArgs?.[0]).toBe('--net');
  });

  it('permission: its flags first, writable paths the cache and the temp dir only, then the instance arguments', () => {
    const isolated = isolateInstance(options, '/data/cache/ts', decideIsolation('permission', machine()));
    expect(isolated.args[0]).toBe('--experimental-permission');
    expect(isolated.args.filter((arg) => arg.startsWith('--allow-fs-write='))).toEqual([
      '--allow-fs-write=/data/cache/ts',
      `--allow-fs-write=${tmpdir()}`,
    ]);
    expect(isolated.args.slice(-2)).toEqual(options.args);
    expect(isolated.args[isolated.args.indexOf('--import') + 1]).toMatch(/instance\/isolation-guard\.js$/);
    // The compile step: a shell runs it with the IPC channel hidden, then execs Node in its place.
    expect(isolated.command).toBe('/bin/sh');
    expect(isolated.commandArgs?.[1]).toContain('NODE_CHANNEL_FD= ');
    expect(isolated.commandArgs?.[1]).toContain('exec "$@"');
  });

  it("another runtime's Node: that executable, with the permission flags it knows", () => {
    const node24 = {
      execPath: '/data/runtimes/node-v24.1.0/bin/node',
      version: 'v24.1.0',
      flags: ['--permission', '--allow-worker', '--disable-warning'],
    };
    const netns = isolateInstance(options, '/c', decideIsolation('auto', machine()), node24);
    expect(netns).toMatchObject({
      execPath: node24.execPath,
      command: '/usr/bin/unshare',
      args: options.args,
    });

    // The platform (Node 20) says --experimental-permission; Node 24 is given --permission.
    const permission = decideIsolation('permission', machine());
    const isolated = isolateInstance(options, '/c', permission, node24);
    expect(isolated.execPath).toBe(node24.execPath);
    expect(isolated.args[0]).toBe('--permission');
    expect(isolated.args).not.toContain('--experimental-permission');
    expect(isolated.args).not.toContain('--allow-net');
    // Node 25+ checks the network, Unix sockets too: the instance needs --allow-net for its own.
    const node26 = { ...node24, version: 'v26.1.0', flags: [...node24.flags, '--allow-net'] };
    expect(permissionFlagsFor(permission, node26)?.slice(0, 2)).toEqual(['--permission', '--allow-net']);
    // A Node 20 before 20.11 has no --disable-warning: those flags are left out for it.
    const early20 = { ...node24, version: 'v20.6.0', flags: ['--experimental-permission', '--allow-worker'] };
    const flags = permissionFlagsFor(permission, early20);
    expect(flags?.[0]).toBe('--experimental-permission');
    expect(flags?.some((flag) => flag.startsWith('--disable-warning'))).toBe(false);
    // Node 18 has no permission model: it cannot be confined that way, and says what to do.
    expect(() => permissionFlagsFor(permission, { ...node24, version: 'v18.20.8', flags: [] })).toThrow(
      /Node v18\.20\.8 .* has no permission model.*use runtime: nodejs20 or later/,
    );
    expect(permissionFlagsFor(decideIsolation('none', machine()), { ...node24, flags: [] })).toBeUndefined();
  });

  it('none: the options as they were', () => {
    expect(isolateInstance(options, '/c', decideIsolation('none', machine()))).toEqual(options);
  });

  it('the start-up line names the mode, why, and what stays open', () => {
    const fallback = decideIsolation('auto', machine({ platform: 'darwin' }));
    expect(describeIsolation(fallback)).toMatch(
      /^instance isolation: permission because network namespaces are Linux only .*still open: code in the instance process/,
    );
    expect(describeIsolation(decideIsolation('none', machine()))).toMatch(
      /^instance isolation: none; still open: app code can open connections past the socket service/,
    );
    expect(describeIsolation(decideIsolation('auto', machine()))).toMatch(/^instance isolation: netns \(/);
  });
});

// The real thing, where this machine has it (CI runs as root).
const real = decideIsolation('auto', probeIsolationFacts());

describe.skipIf(real.mode !== 'netns')('a child through the netns wrapper (this machine)', () => {
  let server: Server;
  let port = 0;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('keeps its pid and IPC channel, is in another network namespace, and cannot reach loopback', async () => {
    const code = `
      process.on('message', (m) => {
        if (m !== 'connect') return;
        require('node:net').connect(${port}, '127.0.0.1')
          .on('connect', () => process.send({ connected: true }))
          .on('error', (err) => process.send({ error: err.code }));
      });
      process.send({ type: 'ready', pid: process.pid });`;
    let reportedPid: unknown;
    const child = await startSupervisedChild({
      ...isolateInstance({ args: ['-e', code] }, tmpdir(), real),
      isReady: (m) => {
        reportedPid = (m as { pid?: unknown }).pid;
        return (m as { type?: unknown }).type === 'ready' ? true : undefined;
      },
      startTimeoutMs: 10_000,
    });
    try {
      expect(reportedPid).toBe(child.pid);
      expect(readlinkSync(`/proc/${child.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
      const answer = new Promise((resolve) => child.onMessage(resolve));
      expect(child.send('connect')).toBe(true);
      expect(await answer).toEqual({ error: 'ENETUNREACH' });
      expect(connections).toBe(0);
    } finally {
      child.kill();
      await child.exited;
    }
  });

  /** Runs `node -e connect` through `nsenter` into this process's network namespace, under `wrapper`. */
  const nsenterBack = (wrapper: readonly string[]) =>
    new Promise<string>((resolve) => {
      const connect = `require('node:net').connect(${port}, '127.0.0.1')
        .on('connect', () => { console.log('connected'); process.exit(0); })
        .on('error', (err) => { console.log(err.code); process.exit(1); });`;
      const nsenter = [nsenterPath!, `--net=/proc/${process.pid}/ns/net`, process.execPath, '-e', connect];
      const [command, ...args] = [...wrapper, ...nsenter];
      const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk;
      });
      child.stderr.on('data', (chunk: Buffer) => {
        out += chunk;
      });
      child.on('close', () => resolve(out.trim()));
    });
  const nsenterPath = ['/usr/bin/nsenter', '/bin/nsenter'].find((path) => existsSync(path));

  it.skipIf(!nsenterPath || !probeIsolationFacts().root)(
    'drops what a root instance would need to setns() back: nsenter into the platform’s namespace fails (it works from a plain unshare --net)',
    async () => {
      const before = connections;
      const arrived = new Promise((resolve) => server.once('connection', resolve));
      const plain = await nsenterBack([probeIsolationFacts().tools.unshare!, '--net', '--']);
      expect(plain).toBe('connected');
      await arrived;
      const isolated = await nsenterBack([real.command!, ...real.commandArgs!]);
      expect(isolated).toMatch(/nsenter: .*(Permission denied|Operation not permitted)/);
      expect(isolated).not.toContain('connected');
      expect(connections).toBe(before + 1);
    },
  );
});
