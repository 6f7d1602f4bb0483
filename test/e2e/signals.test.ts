import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminGet, repoRoot, startDev } from '../helpers/dev-server.js';

/** Every live descendant of `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

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
    const { instances } = await adminGet<{ instances: Array<{ pid: number }> }>(dev, '/api/instances');
    expect(instances).toHaveLength(2);

    const platformPid = dev.process.pid!;
    const started = descendants(platformPid);
    for (const { pid } of instances) expect(started).toContain(pid);

    const exited = new Promise<number | null>((resolve) => dev.process.once('exit', (code) => resolve(code)));
    dev.process.kill(signal);
    expect(await exited).toBe(0);
    expect(started.filter(alive)).toEqual([]);
    await dev.stop();
  });
});
