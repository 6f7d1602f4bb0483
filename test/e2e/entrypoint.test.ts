/**
 * Entrypoint apps (SPEC S3, S4.3, issue 16): an app's own server, run by the instance with PORT
 * set and proxied to through the front end's whole pipeline. Real processes: `hangar dev`, an
 * App Engine-shaped Node app started by `npm start`, a Python server started by `entrypoint:`.
 * Every wait is bounded; processes are checked and signalled by the pids the platform or the
 * app reports.
 */

import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogEntry, LogPage } from '../../src/logs/types.js';
import {
  adminGet,
  type DevServer,
  type InstancesDoc,
  repoRoot,
  startDev,
  stopAll,
} from '../helpers/dev-server.js';
import { rawRequest } from '../helpers/raw-http.js';
import { alive } from '../helpers/serve.js';

const temps: string[] = [];
afterAll(async () => {
  await stopAll();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

const fixture = (name: string) => join(repoRoot, 'test/fixtures', name);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** A platform config file with `yaml` in it. */
function config(yaml: string): string {
  const file = join(tempDir('hangar-entrypoint-config-'), 'hangar.config.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** Polls until `probe` gives a value; the bound is the test's limit, not a sleep. */
async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The request's log entry once it holds `lines` lines (an entrypoint app's lines come over IPC). */
function entryWith(dev: DevServer, requestId: string, lines: number): Promise<LogEntry> {
  return until(`log entry ${requestId} with ${lines} lines`, 10_000, async () => {
    const entry = (await adminGet<LogPage>(dev, `/api/logs?requestId=${requestId}`)).entries[0];
    return entry && entry.lines.length >= lines ? entry : undefined;
  });
}

/** Process group of `pid` (from /proc). */
function groupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** The pids in process group `pgid` (from /proc). */
function groupMembers(pgid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (groupOf(Number(name)) === pgid) found.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

interface NodeAnswer {
  hello: string;
  node: string;
  pid: number;
  logId: string;
  envLogId: string | null;
  deadlineHeader: string | null;
  userHeader: string | null;
  envUser: string | null;
}

describe("App Engine's Node app, unchanged (only runtime: in app.yaml, npm start, PORT)", () => {
  it('answers every path through hangar dev, with its structured lines under the request', async () => {
    const dev = await startDev([fixture('entrypoint-node')], ['--no-watch']);
    const res = await fetch(`${dev.url}/any/path?x=1`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as NodeAnswer;
    expect(body.hello).toBe('world');
    // runtime: nodejs20, on the platform's Node 20.
    expect(body.node).toMatch(/^v20\./);
    // App Engine's header with the request's log id, which structured lines may carry.
    expect(body.logId).toMatch(/^[0-9a-f]{16,}$/);
    // Hangar's runtime is preloaded into the app's Node (S4.3): process.env is the request's, and
    // the header the instance uses for it is gone before the app's code runs.
    expect(body.envLogId).toBe(body.logId);
    expect(body.deadlineHeader).toBeNull();
    expect(body.envUser).toBe('');
    // A user signed in on the dev sign-in page reaches the app as App Engine passes one.
    const signIn = await fetch(`${dev.url}/_ah/login?action=Login&email=eve@example.com`, {
      redirect: 'manual',
    });
    const cookie = /hangar_session=[^;]+/.exec(signIn.headers.get('set-cookie') ?? '')![0];
    const signedIn = (await (await fetch(`${dev.url}/me`, { headers: { cookie } })).json()) as NodeAnswer;
    expect(signedIn.userHeader).toBe('eve@example.com');
    expect(signedIn.envUser).toBe('eve@example.com');
    const entry = await entryWith(dev, body.logId, 3);
    expect(entry.resource).toBe('/any/path?x=1');
    expect(entry.status).toBe(200);
    const lines = entry.lines.map((l) => [l.level, l.message]);
    // Tied by the trace of X-Cloud-Trace-Context, and by the log id, each at its severity.
    expect(lines).toContainEqual(['warning', 'by trace: /any/path']);
    expect(lines).toContainEqual(['error', 'by id: /any/path']);
    // A plain console.log while handling the request is the request's too, at info.
    expect(lines).toContainEqual(['info', 'plain line for /any/path']);
    // One outside any request is the instance's (the dev terminal shows it).
    await dev.waitFor(/\[instance [0-9a-f]+\].*listening on \d+/);
    // Sockets go through the socket service and its policy: port 25 is refused, naming the rule.
    const smtp = await (await fetch(`${dev.url}/smtp`)).text();
    expect(smtp).toMatch(/^EACCES: .*25/);
    await dev.stop();
  });

  it('replaces an instance whose server crashed; killing the instance ends its server', async () => {
    const dev = await startDev([fixture('entrypoint-node')], ['--no-watch']);
    const first = (await (await fetch(`${dev.url}/`)).json()) as NodeAnswer;
    // node server.js runs in the group `npm start`'s shell leads, a group of its own.
    const firstGroup = groupOf(first.pid);
    expect(firstGroup).not.toBe(groupOf(process.pid));
    expect(groupMembers(firstGroup)).toContain(first.pid);

    // The server exits under a request: that request fails, the instance ends with its server.
    const crashed = await fetch(`${dev.url}/crash`);
    expect(crashed.status).toBe(500);
    await until('the crashed server and its group gone', 10_000, () =>
      groupMembers(firstGroup).length === 0 ? true : undefined,
    );
    // A new instance, with a new server, serves the next requests (one sent while the old
    // instance was still going down may fail, as S6 says of a request on an instance that dies).
    const second = await until('a new server answers', 20_000, async () => {
      const res = await fetch(`${dev.url}/`);
      return res.ok ? ((await res.json()) as NodeAnswer) : undefined;
    });
    expect(second.pid).not.toBe(first.pid);
    await dev.waitFor(/exited with code 3/);

    // The instance is killed (SIGKILL, no chance to clean up): the platform ends its server.
    const { instances } = await adminGet<InstancesDoc>(dev, '/api/instances');
    const serving = instances.find((i) => i.state === 'ready' && i.pid !== null);
    expect(serving).toBeDefined();
    const secondGroup = groupOf(second.pid);
    process.kill(serving!.pid!, 'SIGKILL');
    await until('the killed instance’s server group gone', 10_000, () =>
      groupMembers(secondGroup).length === 0 ? true : undefined,
    );
    expect(alive(second.pid)).toBe(false);

    // And stopping the platform leaves no server behind.
    const third = (await (await fetch(`${dev.url}/`)).json()) as NodeAnswer;
    const thirdGroup = groupOf(third.pid);
    await dev.stop();
    await until('the last server gone with the platform', 10_000, () =>
      groupMembers(thirdGroup).length === 0 ? true : undefined,
    );
  });
});

describe("the shape of App Engine's static-files sample (app.standard.yaml, static_dir + script: auto)", () => {
  it('serves the static directory from the front end and the rest from npm start', async () => {
    const app = tempDir('hangar-entrypoint-static-');
    // Its app.standard.yaml, under that name, as the sample has it (runtime: a major Hangar runs).
    writeFileSync(
      join(app, 'app.standard.yaml'),
      'runtime: nodejs20\n\nhandlers:\n  - url: /static\n    static_dir: public\n\n  - url: /.*\n    script: auto\n',
    );
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'static-files', scripts: { start: 'node app.js' } }),
    );
    writeFileSync(
      join(app, 'app.js'),
      "require('node:http').createServer((req, res) => res.end('dynamic ' + req.url)).listen(process.env.PORT || 8080);\n",
    );
    mkdirSync(join(app, 'public'));
    writeFileSync(join(app, 'public', 'main.css'), 'body { color: teal; }\n');
    const dev = await startDev([join(app, 'app.standard.yaml')], ['--no-watch']);
    const css = await fetch(`${dev.url}/static/main.css`);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await css.text()).toBe('body { color: teal; }\n');
    expect(await (await fetch(`${dev.url}/`)).text()).toBe('dynamic /');
    await dev.stop();
  });
});

describe('an entrypoint app in another language (Python http.server)', () => {
  it('answers through the pipeline: static files, gzip, header rules, bodies, its lines', async () => {
    const dev = await startDev([fixture('entrypoint-python')], ['--no-watch']);
    const hello = await fetch(`${dev.url}/hi`);
    expect(await hello.text()).toBe('python says hello at /hi');

    // static_files are the front end's, never the app's.
    expect(await (await fetch(`${dev.url}/static/a.txt`)).text()).toBe('static file\n');

    // gzip by the front end (S5 step 7) for a client that takes it.
    const big = await rawRequest(
      dev.url,
      'GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nUser-Agent: Mozilla/5.0\r\n\r\n',
    );
    expect(big.headers['content-encoding']).toEqual(['gzip']);
    expect(gunzipSync(big.body).toString()).toBe('entrypoint says hello. '.repeat(2000));

    // The app's connection headers stay between it and the instance; its own headers pass.
    const hop = await fetch(`${dev.url}/hop`);
    expect(hop.headers.get('keep-alive')).not.toBe('timeout=99');
    expect(hop.headers.get('x-app')).toBe('kept');

    // What the app is told: App Engine's headers, never a client's forged X-AppEngine-*.
    const headers = (await (
      await fetch(`${dev.url}/headers`, { headers: { 'X-AppEngine-User-Email': 'forged@example.com' } })
    ).json()) as Record<string, string>;
    expect(headers['x-appengine-user-email']).toBeUndefined();
    expect(headers['x-appengine-request-log-id']).toMatch(/^[0-9a-f]{16,}$/);
    expect(headers['x-cloud-trace-context']).toMatch(/^[0-9a-f]{32}\//);

    // A 1 MiB body each way, byte for byte.
    const payload = Buffer.alloc(1 << 20, 7);
    payload[12345] = 42;
    const echoed = await fetch(`${dev.url}/echo`, { method: 'POST', body: payload });
    expect(Buffer.from(await echoed.arrayBuffer()).equals(payload)).toBe(true);

    // Its structured line, under its request.
    const entry = await entryWith(dev, headers['x-appengine-request-log-id']!, 1);
    expect(entry.lines.map((l) => [l.level, l.message])).toContainEqual(['info', 'served /headers']);
    await dev.stop();
  });

  it('examples/entrypoint as its README shows it: a form, a POST, its line under the request', async () => {
    const dev = await startDev([join(repoRoot, 'examples/entrypoint')], ['--no-watch']);
    const signed = await fetch(`${dev.url}/`, {
      method: 'POST',
      body: new URLSearchParams({ name: 'Ada <b>' }),
      redirect: 'manual',
    });
    expect(signed.status).toBe(303);
    expect(signed.headers.get('location')).toBe('/');
    const page = await (await fetch(`${dev.url}/`)).text();
    // Escaped by the app; one instance (the dev server's), so the entry is there.
    expect(page).toContain('<li>Ada &lt;b&gt;</li>');
    const css = await fetch(`${dev.url}/static/style.css`);
    expect(css.status).toBe(200);
    const logs = await until('the POST with its line', 10_000, async () => {
      const page = await adminGet<LogPage>(dev, '/api/logs?limit=20');
      return page.entries.find((e) => e.method === 'POST' && e.lines.length > 0);
    });
    expect(logs.lines.map((l) => [l.level, l.message])).toContainEqual(['info', 'signed by Ada <b>']);
    await dev.stop();
  });

  it('reaches out only through the egress proxy (ALL_PROXY, SOCKS5): allowed, and refused naming the rule', async () => {
    // A loopback echo server: allowed on the dev server (with a warning; serve refuses loopback).
    const echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const port = (echo.address() as AddressInfo).port;
    const udpEcho = createSocket('udp4');
    udpEcho.on('message', (message, from) => udpEcho.send(message, from.port, from.address));
    await new Promise<void>((resolve) => udpEcho.bind(0, '127.0.0.1', resolve));
    const udpPort = udpEcho.address().port;
    const dev = await startDev([fixture('entrypoint-python')], ['--no-watch']);
    try {
      const allowed = await (await fetch(`${dev.url}/socks?host=127.0.0.1&port=${port}&say=ping`)).text();
      expect(allowed).toMatch(/^reply=0 echo=ping https_proxy=http:\/\/127\.0\.0\.1:\d+$/);
      // Port 25 is refused on any host (S12): SOCKS reply 2, "not allowed by ruleset".
      const refused = await (await fetch(`${dev.url}/socks?host=127.0.0.1&port=25&say=x`)).text();
      expect(refused).toMatch(/^reply=2 /);
      // The rule is named in the app's warning.
      await dev.waitFor(/egress proxy: .*25/);
      // UDP ASSOCIATE: a datagram out through the relay and the socket service, its echo back.
      const udp = await (await fetch(`${dev.url}/udp?host=127.0.0.1&port=${udpPort}&say=pong`)).text();
      expect(udp).toBe('udp=pong');
      // Under netns isolation (root on Linux, as in CI) the proxy is the only way out: the same
      // server, dialled directly, is not there (the namespace's loopback is its own).
      if (/instance isolation: netns/.test(dev.output())) {
        const direct = await (await fetch(`${dev.url}/direct?host=127.0.0.1&port=${port}`)).text();
        expect(direct).toMatch(/^failed: /);
      }
    } finally {
      await dev.stop();
      echo.close();
      udpEcho.close();
    }
  });

  it('cuts a request at its deadline with a 500 and serves on; a crashed server is replaced', async () => {
    const dev = await startDev(
      [fixture('entrypoint-python')],
      ['--no-watch', '--config', config('limits:\n  request_deadline: 1s\n  deadline_grace: 500ms\n')],
    );
    const started = Date.now();
    const slow = await fetch(`${dev.url}/slow`);
    expect(slow.status).toBe(500);
    // Bounded by the deadline and its grace, not by the app's 30 s.
    expect(Date.now() - started).toBeLessThan(10_000);
    const again = await fetch(`${dev.url}/after`);
    expect(await again.text()).toBe('python says hello at /after');
    // The server crashes under a request: a 500, and a new instance with a new server serves on.
    const before = await (await fetch(`${dev.url}/pid`)).text();
    expect((await fetch(`${dev.url}/crash`)).status).toBe(500);
    const after = await until('a new Python server', 20_000, async () => {
      const res = await fetch(`${dev.url}/pid`);
      const text = await res.text();
      return res.ok && text !== before ? text : undefined;
    });
    expect(Number(after)).toBeGreaterThan(0);
    await dev.stop();
  });

  it('a server that never listens on PORT fails its start with its own stderr', async () => {
    const app = tempDir('hangar-entrypoint-deaf-');
    writeFileSync(
      join(app, 'app.yaml'),
      'runtime: nodejs20\nentrypoint: echo "no port for me" >&2; exec sleep 60\n',
    );
    const dev = await startDev(
      [app],
      ['--no-watch', '--config', config('scheduler:\n  start_timeout: 4s\n')],
    );
    const match = await dev.waitFor(
      /did not accept connections on PORT \d+ within \d+ ms[\s\S]*no port for me/,
      15_000,
    );
    expect(match[0]).toContain('process.env.PORT');
    const res = await fetch(`${dev.url}/`);
    expect(res.status).toBeGreaterThanOrEqual(500);
    await dev.stop();
  });
});
