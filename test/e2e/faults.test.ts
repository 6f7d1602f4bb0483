/**
 * The fault suite (issue 14): faults injected into a running `hangar dev` under load — an
 * instance killed with SIGKILL, an instance stopped with SIGSTOP, a memory hog, a spinning
 * handler, the socket service killed. Each case asserts what the other requests saw and that
 * every request the client got an answer for has its request-log record. Loads are bounded in
 * count; every wait is bounded; processes are signalled by the pids the admin API reports.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { LogEntry, LogPage } from '../../src/logs/types.js';
import {
  adminGet,
  childrenOf,
  type DevServer,
  type InstancesDoc,
  repoRoot,
  startDev,
  stopAll,
  untilInstances,
} from '../helpers/dev-server.js';

const app = join(repoRoot, 'test/fixtures/faults-app');
const configDir = mkdtempSync(join(tmpdir(), 'hangar-faults-'));
const configFile = join(configDir, 'hangar.config.yaml');
// Manual scaling has no deadline unless the platform config sets one (S6).
writeFileSync(
  configFile,
  'limits:\n  request_deadline: 2s\n  deadline_grace: 500ms\n  unresponsive_after: 1s\n',
);

const until = untilInstances;

async function start(): Promise<{ dev: DevServer; doc: InstancesDoc }> {
  const dev = await startDev([app], ['--no-watch', '--config', configFile]);
  // Ready and done with their /_ah/start request (manual scaling), i.e. taking traffic: a fault
  // injected while that request is still on an instance tests the start, not the serving.
  const doc = await until(
    dev,
    15_000,
    (d) =>
      d.instances.filter((i) => i.state === 'ready' && i.requestsServed >= 1 && i.busySlots === 0).length ===
      2,
  );
  return { dev, doc };
}

interface Answer {
  n: number;
  status: number;
  instance?: string;
}

/**
 * `count` requests `/?n=..&t=tag` over `connections` sequential clients; `during(done)` runs
 * once `after` of them were answered. Every request gets an answer or a network error (kept
 * as status 0).
 */
async function drive(
  dev: DevServer,
  tag: string,
  count: number,
  connections: number,
  after: number,
  during: () => Promise<void>,
): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  let fault: Promise<void> | undefined;
  const client = async () => {
    while (next < count) {
      const n = next++;
      let answer: Answer;
      try {
        const res = await fetch(`${dev.url}/?n=${n}&t=${tag}`);
        const body = await res.text();
        answer = { n, status: res.status };
        if (res.status === 200) answer.instance = (JSON.parse(body) as { instance: string }).instance;
      } catch {
        answer = { n, status: 0 };
      }
      answers.push(answer);
      if (answers.length === after) fault = during();
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  await fault;
  return answers.sort((a, b) => a.n - b.n);
}

/** Every answered request (any status) has its record in the request log, with its line when it was a 200. */
async function expectEveryAnswerLogged(dev: DevServer, tag: string, answers: Answer[]): Promise<void> {
  const answered = answers.filter((a) => a.status !== 0);
  const deadline = Date.now() + 20_000;
  let entries: LogEntry[] = [];
  for (;;) {
    ({ entries } = await adminGet<LogPage>(dev, `/api/logs?text=t%3D${tag}&limit=1000`));
    if (entries.length >= answered.length || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const byResource = new Map(entries.map((e) => [e.resource, e]));
  const missing = answered.filter((a) => !byResource.has(`/?n=${a.n}&t=${tag}`));
  expect(missing, 'answered requests without a log record').toEqual([]);
  for (const a of answered) {
    const entry = byResource.get(`/?n=${a.n}&t=${tag}`)!;
    expect(entry.status).toBe(a.status);
    if (a.status === 200) expect(entry.lines.map((l) => l.message)).toContain(`answered ?n=${a.n}&t=${tag}`);
  }
}

afterEach(stopAll);
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

describe('faults under load (issue 14)', () => {
  it('SIGKILL of an instance: only requests on it fail; it is replaced; every answer is logged', async () => {
    const { dev, doc } = await start();
    const victim = doc.instances[0]!;
    const answers = await drive(dev, 'kill9', 300, 4, 60, async () => {
      process.kill(victim.pid!, 'SIGKILL');
    });
    expect(answers).toHaveLength(300);
    const failed = answers.filter((a) => a.status !== 200);
    // At most the requests in flight on the victim (4 clients): each a 500, none dropped.
    expect(failed.length).toBeLessThanOrEqual(4);
    for (const a of failed) expect(a.status).toBe(500);
    expect(answers.slice(-50).every((a) => a.status === 200)).toBe(true);
    // Its exit, or (when its exit event comes after the ping of a request that lost its
    // connection) a kill for not answering: either way it is gone and replaced.
    const after = await until(dev, 20_000, (d) =>
      d.decisions.some((x) => (x.action === 'exit' || x.action === 'kill') && x.instanceId === victim.id),
    );
    expect(after.decisions.filter((d) => d.action === 'start').length).toBeGreaterThanOrEqual(3);
    await expectEveryAnswerLogged(dev, 'kill9', answers);
  });

  it('SIGSTOP of an instance: out of routing after unresponsive_after, replaced, back after SIGCONT', async () => {
    const { dev, doc } = await start();
    const stopped = doc.instances[0]!;
    process.kill(stopped.pid!, 'SIGSTOP');
    try {
      const marked = await until(dev, 20_000, (d) =>
        d.decisions.some((x) => x.action === 'unresponsive' && x.instanceId === stopped.id),
      );
      expect(marked.decisions.filter((d) => d.action === 'start')).toHaveLength(3);
      // Meanwhile every request is answered by the others, promptly.
      const answers = await drive(dev, 'sigstop', 60, 4, 1, async () => {});
      expect(answers.every((a) => a.status === 200 && a.instance !== stopped.id)).toBe(true);
      await expectEveryAnswerLogged(dev, 'sigstop', answers);
    } finally {
      process.kill(stopped.pid!, 'SIGCONT');
    }
    await until(dev, 20_000, (d) =>
      d.decisions.some((x) => x.action === 'recovered' && x.instanceId === stopped.id),
    );
  });

  it('a memory hog and a spinning handler cost only the requests on their instances', async () => {
    const { dev } = await start();
    const hog = fetch(`${dev.url}/hog?mib=600`);
    const spin = fetch(`${dev.url}/spin`);
    const answers = await drive(dev, 'neighbours', 200, 4, 1, async () => {});
    // Requests that shared an instance with the hog or the spinner end with it (S6: its other
    // requests get 500), at most one per client; none waits for a slot (no 503).
    const failed = answers.filter((a) => a.status !== 200);
    expect(failed.length).toBeLessThanOrEqual(4);
    for (const a of failed) expect(a.status).toBe(500);
    expect(answers.slice(-100).every((a) => a.status === 200)).toBe(true);
    expect((await hog).status).toBe(500);
    expect((await spin).status).toBe(500);
    // One kill each, or one for both when they shared an instance (requests are packed).
    const doc = await until(dev, 20_000, (d) => d.decisions.some((x) => x.action === 'kill'));
    const kills = doc.decisions.filter((d) => d.action === 'kill').map((d) => d.reason);
    for (const reason of kills)
      expect(reason).toMatch(/passed the hard cap|while its event loop was blocked/);
    await expectEveryAnswerLogged(dev, 'neighbours', answers);
  });

  it('SIGKILL of the socket service: requests without sockets are untouched; sockets work again after its restart', async () => {
    const echo: Server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const port = (echo.address() as { port: number }).port;
    try {
      const { dev } = await start();
      const first = await fetch(`${dev.url}/tcp?port=${port}`);
      expect(((await first.json()) as { echoed: string }).echoed).toBe('ping');
      // The platform's child running the socket service, found by its parent's pid (not by name).
      const service = childrenOf(dev.process.pid!).filter((pid) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sockets/service/main.js'),
      );
      expect(service).toHaveLength(1);
      const answers = await drive(dev, 'sockkill', 120, 4, 20, async () => {
        process.kill(service[0]!, 'SIGKILL');
      });
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      await dev.waitFor(/the socket service exited \(SIGKILL\)/);
      const deadline = Date.now() + 10_000;
      let echoed = '';
      while (Date.now() < deadline && echoed !== 'ping') {
        const res = await fetch(`${dev.url}/tcp?port=${port}`);
        if (res.status === 200) echoed = ((await res.json()) as { echoed: string }).echoed;
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(echoed).toBe('ping');
      await expectEveryAnswerLogged(dev, 'sockkill', answers);
    } finally {
      echo.close();
    }
  });
});
