import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface Target {
  name: string;
  url: string;
  stop(): Promise<void>;
}

const root = resolve(import.meta.dirname, '..');

/** Starts a child and resolves with the first match of `pattern` in its output. */
export function startChild(
  command: string,
  args: string[],
  pattern: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  return new Promise((res, rej) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`timed out starting ${args.join(' ')}:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        // Keep draining so a chatty child never blocks on a full pipe.
        child.stdout!.resume();
        child.stderr!.resume();
        res({ child, match });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    child.kill(signal);
  });
}

/** Bare node:http hello world: the limit for one Node process (BASELINES.md). */
export async function bareNode(): Promise<Target> {
  const script = `
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 13 });
      res.end('Hello, World!');
    });
    server.keepAliveTimeout = 65000;
    server.listen(0, '127.0.0.1', () => console.log('listening on ' + server.address().port));
  `;
  const { child, match } = await startChild(process.execPath, ['-e', script], /listening on (\d+)/);
  return { name: 'bare node:http', url: `http://127.0.0.1:${match[1]}/`, stop: () => stopChild(child) };
}

/** A running `hangar dev <app> --no-watch` on free ports, with its own temp data dir. */
export async function startHangarDev(
  appDir: string,
  tree = root,
): Promise<{ child: ChildProcess; url: string; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hangar-bench-'));
  const { child, match } = await startChild(
    process.execPath,
    [
      join(tree, 'dist/cli/main.js'),
      'dev',
      appDir,
      '--no-watch',
      '--port',
      '0',
      '--admin-port',
      '0',
      '--data-dir',
      dataDir,
    ],
    /default \(version [^)]+\): (http:\/\/\S+)/,
  );
  return { child, url: `${match[1]}/`, dataDir };
}

/** `hangar dev <app> --no-watch`, as a user runs it (default: examples/hello; `tree`: another build). */
export async function hangarDev(
  name = 'hangar dev',
  appDir = join(root, 'examples/hello'),
  tree = root,
): Promise<Target> {
  const { child, url, dataDir } = await startHangarDev(appDir, tree);
  return {
    name,
    url,
    stop: async () => {
      await stopChild(child, 'SIGINT');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** examples/hello copied with `manual_scaling: instances: N`, so the pool has exactly N instances. */
export async function hangarPool(instances: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), `hangar-bench-pool${instances}-`));
  cpSync(join(root, 'examples/hello'), dir, { recursive: true });
  writeFileSync(
    join(dir, 'app.yaml'),
    `runtime: nodejs20\nmanual_scaling:\n  instances: ${instances}\nhandlers:\n  - url: /.*\n    script: main.app\n`,
  );
  const target = await hangarDev(`hangar dev, ${instances} instance${instances > 1 ? 's' : ''}`, dir);
  // Wait until every instance of the pool takes traffic, so the rounds measure the whole pool.
  const seen = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (seen.size < instances && Date.now() < deadline) {
    const res = await fetch(`${target.url}env`);
    seen.add(((await res.json()) as { instance: string }).instance);
  }
  return {
    ...target,
    stop: async () => {
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `hangar dev examples/hello` as built from a commit (git archive into a temp dir, compiled
 * there), so a change is measured against its predecessor in the same run, and without
 * uncommitted work in the tree. The target is named `label (short hash)`. With `oneInstance`,
 * the app runs under `manual_scaling: instances: 1`, so autoscaling (which starts a varying
 * number of instances on a 2-core machine) does not blur the comparison.
 */
export async function hangarDevAt(commit: string, label: string, oneInstance = false): Promise<Target> {
  const hash = execFileSync('git', ['rev-parse', '--short', commit], { cwd: root, encoding: 'utf8' }).trim();
  const name = `${label} (${hash})`;
  const dir = mkdtempSync(join(tmpdir(), `hangar-bench-${hash}-`));
  execFileSync('git', ['archive', '--format=tar', '-o', join(dir, 'tree.tar'), hash], { cwd: root });
  execFileSync('tar', ['-xf', join(dir, 'tree.tar'), '-C', dir]);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      stdio: 'ignore',
    });
  } catch {
    // Type errors at that commit still emit JavaScript; a missing build fails at start below.
  }
  if (oneInstance) {
    writeFileSync(
      join(dir, 'examples/hello/app.yaml'),
      'runtime: nodejs20\nmanual_scaling:\n  instances: 1\nhandlers:\n  - url: /.*\n    script: main.app\n',
    );
  }
  const target = await hangarDev(name, join(dir, 'examples/hello'), dir);
  return {
    ...target,
    stop: async () => {
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
