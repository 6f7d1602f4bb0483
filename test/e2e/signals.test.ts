import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminGet, cli, repoRoot, startDev } from '../helpers/dev-server.js';
import { watchOutput } from '../helpers/process-output.js';
import { alive, descendantsOf } from '../helpers/serve.js';

/** GET with an explicit Host header (fetch may not set one). */
function getWithHost(url: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(['SIGINT', 'SIGTERM'] as const)('%s to hangar dev', (signal) => {
  it('stops the platform and every process it started, leaving no orphan', async () => {
    const dev = await startDev([
      join(repoRoot, 'examples/hello'),
      join(repoRoot, 'test/fixtures/api-service'),
    ]);
    const port = new URL(dev.url).port;
    // Two services, routed by host: two instance processes to stop.
    expect(await getWithHost(dev.url, `127.0.0.1:${port}`)).toBe('Hello, World!');
    expect(await getWithHost(dev.url, `api.localhost:${port}`)).toBe('service api');
    // The banner names the second service by a host browsers and curl resolve to loopback
    // (*.localhost), and that host reaches it.
    const [, printed] = await dev.waitFor(/^ {2}api \(version [^)]+\): (\S+)$/m);
    expect(printed).toBe(`http://api.localhost:${port}`);
    expect(await getWithHost(dev.url, new URL(printed!).host)).toBe('service api');
    const { instances } = await adminGet<{ instances: Array<{ pid: number }> }>(dev, '/api/instances');
    expect(instances).toHaveLength(2);

    const platformPid = dev.process.pid!;
    const started = descendantsOf(platformPid);
    for (const { pid } of instances) expect(started).toContain(pid);

    const exited = new Promise<number | null>((resolve) => dev.process.once('exit', (code) => resolve(code)));
    dev.process.kill(signal);
    expect(await exited).toBe(0);
    expect(started.filter(alive)).toEqual([]);
    await dev.stop();
  });
});

describe('Ctrl-C in a terminal (SIGINT to the whole process group)', () => {
  it('stops hangar dev quietly: no process restarted, no error line, none left', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hangar-ctrl-c-'));
    // Its own process group, as a shell gives a foreground job; the terminal signals all of it.
    const child = spawn(
      process.execPath,
      [
        cli,
        'dev',
        join(repoRoot, 'examples/hello'),
        '--port',
        '0',
        '--admin-port',
        '0',
        '--data-dir',
        dataDir,
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    const output = watchOutput(child, 'hangar dev');
    try {
      const [, url] = await output.waitFor(/^ {2}default \(version [^)]+\): (http:\/\/\S+)$/m);
      expect(await (await fetch(url!)).text()).toBe('Hello, World!');
      const started = descendantsOf(child.pid!);
      expect(started.length).toBeGreaterThanOrEqual(2);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      expect(output.text()).not.toMatch(/socket service exited|error:/);
      expect(started.filter(alive)).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Pids of live processes whose environment or command line mentions `text` (from /proc). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const seen =
        readFileSync(`/proc/${entry}/environ`, 'latin1') + readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (seen.includes(text) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // exited, or not ours to read
    }
  }
  return found;
}

describe('a port in use', () => {
  it.each(['--port', '--admin-port'])(
    '%s taken: hangar dev says so, exits 1 and leaves no process behind',
    async (flag) => {
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const taken = (holder.address() as AddressInfo).port;
      const dataDir = mkdtempSync(join(tmpdir(), 'hangar-port-taken-'));
      try {
        const ports =
          flag === '--port'
            ? ['--port', String(taken), '--admin-port', '0']
            : ['--port', '0', '--admin-port', String(taken)];
        const child = spawn(
          process.execPath,
          [cli, 'dev', join(repoRoot, 'examples/hello'), ...ports, '--data-dir', dataDir],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, NO_COLOR: '1' },
          },
        );
        const output = watchOutput(child, 'hangar dev');
        const code = await new Promise<number | null>((resolve) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          child.once('exit', (exitCode) => {
            clearTimeout(timer);
            resolve(exitCode);
          });
        });
        expect(code).toBe(1);
        expect(output.text()).toContain(`127.0.0.1:${taken} is already in use; pick another with ${flag}`);
        // Nothing it started (the socket service, instances) outlives it: found by its data dir.
        const deadline = Date.now() + 5_000;
        while (processesMentioning(dataDir).length > 0 && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(processesMentioning(dataDir)).toEqual([]);
      } finally {
        holder.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
