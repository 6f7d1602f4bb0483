/**
 * S9 request logs against real `hangar dev` processes: levels in order under one record, the
 * `hangar logs` filters, 50 concurrent requests × 20 lines, a front-end 413, the dev terminal
 * (also behind a reader that stops reading),
 * `--tail`, a kill -9 of the platform, and retention.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry, LogPage } from '../../src/logs/types.js';
import { adminGet, cli, type DevServer, repoRoot, startDev, stopAll } from '../helpers/dev-server.js';
import { rawRequest } from '../helpers/raw-http.js';

const run = promisify(execFile);
const app = join(repoRoot, 'test/fixtures/logs-app');

/** Polls `GET /api/logs?<query>` until `done` holds, at most `timeoutMs`. */
async function logsWhen(
  dev: DevServer,
  query: string,
  done: (entries: LogEntry[]) => boolean,
  timeoutMs = 5_000,
): Promise<LogEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { entries } = await adminGet<LogPage>(dev, `/api/logs?${query}`);
    if (done(entries) || Date.now() > deadline) return entries;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `hangar logs` as a user runs it, against `dev`. */
async function hangarLogs(dev: DevServer, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [
    cli,
    'logs',
    '--server',
    dev.adminUrl,
    '--token',
    dev.token,
    ...args,
  ]);
  return stdout;
}

const jsonLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LogEntry);

afterAll(() => stopAll());

describe('hangar logs into a reader that stops early (`hangar logs --tail | head -1`)', () => {
  it('ends quietly with exit 0, no EPIPE trace', async () => {
    const dev = await startDev([join(repoRoot, 'examples/hello')], ['--no-watch']);
    const child = spawn(
      process.execPath,
      [cli, 'logs', '--tail', '--server', dev.adminUrl, '--token', dev.token],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The first entry read, the reader goes away; the next entries meet a closed pipe.
    const firstChunk = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await fetch(dev.url);
    await firstChunk;
    child.stdout.destroy();
    for (let i = 0; i < 20 && child.exitCode === null; i++) await fetch(dev.url);
    const code = await Promise.race([
      exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000)),
    ]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    await dev.stop();
  });
});

describe('request logs: one record per request with its lines', () => {
  let dev: DevServer;
  let entry: LogEntry;
  const configDir = mkdtempSync(join(tmpdir(), 'hangar-logs-config-'));
  beforeAll(async () => {
    const config = join(configDir, 'hangar.config.yaml');
    writeFileSync(config, 'limits:\n  max_request_bytes: 1000\n');
    dev = await startDev([app], ['--no-watch', '--config', config]);
    const res = await fetch(`${dev.url}/levels?run=1`);
    expect(res.status).toBe(200);
    const [found] = await logsWhen(dev, 'text=/levels', (e) => e[0]?.lines.length === 4);
    entry = found!;
  });
  afterAll(async () => {
    await dev.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('nests the four lines under the record, in order, with their levels', () => {
    expect(entry.lines.map((l) => [l.level, l.message])).toEqual([
      ['debug', 'debug line'],
      ['info', 'info line'],
      ['warning', 'warning line'],
      ['error', 'error line 42'],
    ]);
    expect(entry).toMatchObject({
      appId: 'logs-app',
      service: 'default',
      version: 'dev',
      method: 'GET',
      resource: '/levels?run=1',
      status: 200,
      error: null,
    });
    expect(entry.requestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('the dev terminal shows the lines under the request line', async () => {
    await dev.waitFor(
      /GET \/levels\?run=1 200 [^\n]*\n +\S+ debug +debug line\n +\S+ info +info line\n +\S+ warning +warning line\n +\S+ error +error line 42/,
    );
  });

  it('hangar logs finds it by --request-id, --grep, --min-level error, --status, --since; not by --min-level critical', async () => {
    const ids = async (...args: string[]) =>
      jsonLines(await hangarLogs(dev, '--json', ...args)).map((e) => e.requestId);
    expect(await ids('--request-id', entry.requestId)).toEqual([entry.requestId]);
    expect(await ids('--grep', 'warning line')).toEqual([entry.requestId]);
    expect(await ids('--min-level', 'error', '--grep', '/levels')).toEqual([entry.requestId]);
    expect(await ids('--min-level', 'critical', '--grep', '/levels')).toEqual([]);
    expect(await ids('--status', '200', '--grep', '/levels')).toEqual([entry.requestId]);
    expect(await ids('--status', '404', '--grep', '/levels')).toEqual([]);
    expect(
      await ids('--since', new Date(Date.parse(entry.startTime) - 1000).toISOString(), '--grep', '/levels'),
    ).toEqual([entry.requestId]);
    expect(
      await ids('--since', new Date(Date.parse(entry.startTime) + 1000).toISOString(), '--grep', '/levels'),
    ).toEqual([]);
    // --json prints exactly the S9 object.
    const [printed] = jsonLines(await hangarLogs(dev, '--json', '--request-id', entry.requestId));
    expect(Object.keys(printed!)).toEqual([
      'requestId',
      'appId',
      'service',
      'version',
      'instanceId',
      'startTime',
      'latencyMs',
      'pendingMs',
      'method',
      'resource',
      'httpVersion',
      'status',
      'bytesIn',
      'bytesOut',
      'userAgent',
      'ip',
      'host',
      'loadingRequest',
      'secure',
      'error',
      'split',
      'lines',
    ]);
    // The table: one line for the request, its lines indented under it.
    const table = await hangarLogs(dev, '--request-id', entry.requestId);
    expect(table).toMatch(
      new RegExp(`200  GET  /levels\\?run=1 .*${entry.requestId}\\n +\\S+ debug +debug line\\n`),
    );
  });

  it('50 concurrent requests × 20 lines: every line under its own request, none lost', async () => {
    const tags = Array.from({ length: 50 }, (_, i) => `c${i}x`);
    const answers = await Promise.all(
      tags.map((tag) => fetch(`${dev.url}/many?tag=${tag}&n=20`).then((r) => r.text())),
    );
    expect(answers).toEqual(tags.map((tag) => `${tag}\n`));
    const total = (entries: LogEntry[]) => entries.reduce((n, e) => n + e.lines.length, 0);
    const entries = await logsWhen(dev, 'text=/many&limit=1000', (e) => e.length === 50 && total(e) === 1000);
    expect(entries).toHaveLength(50);
    for (const e of entries) {
      const tag = new URL(e.resource, 'http://x').searchParams.get('tag');
      expect(e.lines.map((l) => l.message)).toEqual(Array.from({ length: 20 }, (_, i) => `${tag} line ${i}`));
    }
  });

  it('a request the front end rejected (413) is logged with its id and the limit', async () => {
    const res = await rawRequest(
      dev.url,
      'POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n',
      { untilClose: true },
    );
    expect(res.status).toBe(413);
    const [rejected] = await logsWhen(dev, 'status=413', (e) => e.length > 0);
    expect(rejected).toMatchObject({ method: 'POST', resource: '/upload', status: 413 });
    expect(rejected!.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(rejected!.error).toMatch(/HANGAR_E_REQUEST_TOO_LARGE.*1000/);
  });

  it('static files are logged too', async () => {
    expect((await fetch(`${dev.url}/public/hello.txt`)).status).toBe(200);
    const [hit] = await logsWhen(dev, 'text=/public/hello.txt', (e) => e.length > 0);
    expect(hit).toMatchObject({ status: 200, instanceId: null, lines: [] });
  });

  it('hangar logs --tail shows a new request within 1 s', async () => {
    const tail: ChildProcess = spawn(
      process.execPath,
      [cli, 'logs', '--tail', '--json', '--grep', '/tail-me', '--server', dev.adminUrl, '--token', dev.token],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      const seen = (pattern: RegExp, timeoutMs: number) =>
        new Promise<number>((resolve, reject) => {
          const check = () => {
            if (pattern.test(out)) {
              clearTimeout(timer);
              tail.stdout!.off('data', onData);
              resolve(Date.now());
            }
          };
          const onData = (chunk: Buffer) => {
            out += chunk.toString();
            check();
          };
          const timer = setTimeout(
            () => reject(new Error(`no ${pattern} in --tail output within ${timeoutMs} ms:\n${out}`)),
            timeoutMs,
          );
          tail.stdout!.on('data', onData);
          check();
        });
      // A first request shows up from the history, so the stream is open before the timed one.
      await fetch(`${dev.url}/tail-me/1`);
      await logsWhen(dev, 'text=/tail-me/1', (e) => e.length > 0);
      await seen(/"resource":"\/tail-me\/1"/, 10_000);
      const res = await fetch(`${dev.url}/tail-me/2`);
      await res.text();
      const finished = Date.now();
      const shown = await seen(/"resource":"\/tail-me\/2"/, 1_000);
      expect(shown - finished).toBeLessThan(1_000);
    } finally {
      tail.kill('SIGTERM');
    }
  });

  it('sends at most N entries a second and says how many it skipped; a bad N is 400', async () => {
    const bad = await fetch(`${dev.adminUrl}/api/logs/stream?max_per_second=0`, {
      headers: { authorization: `Bearer ${dev.token}` },
    });
    expect(bad.status).toBe(400);
    await expect(bad.text()).resolves.toContain('max_per_second=0 is not a whole number from 1 to 100000');

    const controller = new AbortController();
    const res = await fetch(`${dev.adminUrl}/api/logs/stream?max_per_second=2&text=/capped`, {
      headers: { authorization: `Bearer ${dev.token}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const read = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += decoder.decode(value, { stream: true });
      }
    })();
    try {
      // The stream is open once its first comment is in.
      await until(() => text.includes(': hangar request log'));
      // Ten requests in one burst: two are sent, eight counted as skipped.
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => fetch(`${dev.url}/capped/${i}`).then((r) => r.text())),
      );
      await until(() => skippedIn(text) + dataIn(text) >= 10);
      expect(dataIn(text)).toBeLessThanOrEqual(4); // two a second; the burst may straddle a second
      expect(dataIn(text)).toBeGreaterThanOrEqual(2);
      expect(skippedIn(text) + dataIn(text)).toBe(10);
    } finally {
      controller.abort();
      await read;
    }
  });
});

const dataIn = (text: string) =>
  (text.match(/^data: \{"/gm) ?? []).length - (text.match(/^data: \{"skipped"/gm) ?? []).length;
const skippedIn = (text: string) =>
  [...text.matchAll(/^data: \{"skipped":(\d+)\}/gm)].reduce((sum, m) => sum + Number(m[1]), 0);

/** Resolves once `condition` holds (checked every 20 ms); fails after 10 s. */
async function until(condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - started > 10_000) throw new Error('condition not met within 10 s');
  }
}

/** `hangar dev` on a data dir this test keeps across restarts; resolves with its admin URL and token. */
async function devOn(
  dataDir: string,
): Promise<{ child: ChildProcess; url: string; adminUrl: string; token: string }> {
  const child = spawn(
    process.execPath,
    [cli, 'dev', app, '--port', '0', '--admin-port', '0', '--data-dir', dataDir, '--no-watch'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hangar dev did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(/default \(version [^)]+\): (http:\/\/\S+)\n\s+admin API: (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`hangar dev exited:\n${out}`)));
  });
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return { child, url: match[1]!, adminUrl: match[2]!, token };
}

/** Ends `child` by its pid with `signal` and waits for it. */
async function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

describe('request logs survive a kill -9 of the platform', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hangar-logs-kill-'));
  const started: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of started) await end(child, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a request completed one second before kill -9 is in the log after a restart', async () => {
    const first = await devOn(dataDir);
    started.push(first.child);
    expect((await fetch(`${first.url}/levels?before-kill`)).status).toBe(200);
    // The scenario of the issue: the platform dies one second after the request completed.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await end(first.child, 'SIGKILL');

    const second = await devOn(dataDir);
    started.push(second.child);
    const res = await fetch(`${second.adminUrl}/api/logs?text=before-kill`, {
      headers: { authorization: `Bearer ${second.token}` },
    });
    const { entries } = (await res.json()) as LogPage;
    expect(entries).toHaveLength(1);
    expect(entries[0]!.lines.map((l) => l.level)).toEqual(['debug', 'info', 'warning', 'error']);
    await end(second.child, 'SIGINT');
  });
});

describe('request log retention', () => {
  const configDir = mkdtempSync(join(tmpdir(), 'hangar-logs-retention-'));
  afterAll(() => rmSync(configDir, { recursive: true, force: true }));

  it('deletes records older than logs.retention', async () => {
    const config = join(configDir, 'hangar.config.yaml');
    writeFileSync(config, 'logs:\n  retention: 2s\n');
    const dev = await startDev([app], ['--no-watch', '--config', config]);
    await fetch(`${dev.url}/levels?old`);
    const stored = await logsWhen(dev, 'text=old', (e) => e.length === 1);
    expect(stored).toHaveLength(1);
    const started = Date.parse(stored[0]!.startTime);
    const gone = await logsWhen(dev, 'text=old', (e) => e.length === 0, 10_000);
    expect(gone).toEqual([]);
    // Not before it was older than the retention.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    await dev.stop();
  });
});

describe('the dev terminal behind a reader that falls behind', () => {
  it('answers every request meanwhile and prints every entry once the reader reads again', async () => {
    const dev = await startDev([app], ['--no-watch']);
    // The platform's stdout is a socket this test stops reading: the terminal's writes fill it
    // (some 400 KiB) and then fail with EAGAIN, as with `hangar dev | less` paused.
    dev.process.stdout!.pause();
    const requests = 500;
    const tag = 't'.repeat(200);
    let next = 0;
    const worker = async () => {
      while (next < requests) {
        const n = next++;
        const res = await fetch(`${dev.url}/many?n=20&tag=${tag}${n}`);
        expect(await res.text()).toBe(`${tag}${n}\n`);
      }
    };
    // ~2.3 MB of terminal text; the requests do not wait for any of it.
    await Promise.all(Array.from({ length: 10 }, worker));
    dev.process.stdout!.resume();
    // The terminal prints in order: once this request's entry is out, so are the 500 before it.
    await fetch(`${dev.url}/levels?after-the-backlog`);
    await dev.waitFor(/GET \/levels\?after-the-backlog 200/, 20_000);
    // Each request's line, then its 20 app lines with their messages, none from another request.
    const shown = new Map<number, string[]>();
    let current: string[] | undefined;
    for (const line of dev.output().split('\n')) {
      const request = line.match(/^GET \/many\?n=20&tag=t+?(\d+) 200 /);
      const appLine = line.match(/^ {4}\S+ info {5}(.*)$/);
      if (request) {
        current = [];
        shown.set(Number(request[1]), current);
      } else if (appLine && current) current.push(appLine[1]!);
      else current = undefined;
    }
    expect(shown.size).toBe(requests);
    for (const [n, messages] of shown) {
      expect(messages).toEqual(Array.from({ length: 20 }, (_, i) => `${tag}${n} line ${i}`));
    }
    expect(dev.output()).not.toContain('not shown here');
    await dev.stop();
  });
});
