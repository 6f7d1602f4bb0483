/**
 * CGI handlers (SPEC S4.2, issue 16) through `hangar dev`, with real interpreters (sh, perl,
 * python3) and a CGI program nobody here wrote: `git http-backend`, cloned from and pushed to
 * with git itself. Every wait is bounded; processes are checked by the pids the scripts report.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry, LogPage } from '../../src/logs/types.js';
import { adminGet, copyFixture, type DevServer, repoRoot, startDev, stopAll } from '../helpers/dev-server.js';
import { alive } from '../helpers/serve.js';

const temps: string[] = [];
let app: string;
let dev: DevServer;

beforeAll(async () => {
  app = copyFixture('cgi-app');
  temps.push(app);
  const configDir = mkdtempSync(join(tmpdir(), 'hangar-cgi-config-'));
  temps.push(configDir);
  const config = join(configDir, 'hangar.config.yaml');
  writeFileSync(config, 'limits:\n  request_deadline: 2s\n  deadline_grace: 500ms\n');
  dev = await startDev([app], ['--no-watch', '--config', config]);
});

afterAll(async () => {
  await stopAll();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** The log entry of the latest request to `resource`, once it has `lines` lines (bounded). */
async function entryOf(resource: string, lines = 0): Promise<LogEntry> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = await adminGet<LogPage>(dev, '/api/logs?limit=50');
    const entry = page.entries.filter((e) => e.resource === resource).at(-1);
    if (entry && entry.lines.length >= lines) return entry;
    if (Date.now() > deadline) throw new Error(`no entry for ${resource} with ${lines} lines`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function variables(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('CGI scripts (sh, perl, python3)', () => {
  it('gets the signed-in user as USER_* and REMOTE_USER/AUTH_TYPE', async () => {
    const signIn = await fetch(`${dev.url}/_ah/login?action=Login&email=ann@gmail.com&admin=True`, {
      redirect: 'manual',
    });
    const cookie = /hangar_session=[^;]+/.exec(signIn.headers.get('set-cookie') ?? '')![0];
    const res = await fetch(`${dev.url}/env`, { headers: { cookie } });
    expect(res.status).toBe(200);
    const env = variables(await res.text());
    expect(env).toMatchObject({
      USER_EMAIL: 'ann@gmail.com',
      USER_NICKNAME: 'ann',
      USER_IS_ADMIN: '1',
      REMOTE_USER: 'ann@gmail.com',
      AUTH_TYPE: 'Hangar-Session',
    });
    expect(env.USER_ID).toMatch(/^1\d{20}$/);
  });

  it('gets the meta-variables of RFC 3875 and S8, and nothing of the platform’s environment', async () => {
    const res = await fetch(`${dev.url}/env?a=1&b=%20x`, { headers: { 'X-Custom': 'yes' } });
    expect(res.status).toBe(200);
    const env = variables(await res.text());
    expect(env).toMatchObject({
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      PATH_INFO: '/env',
      QUERY_STRING: 'a=1&b=%20x',
      SCRIPT_NAME: '',
      SERVER_NAME: '127.0.0.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      HTTP_X_CUSTOM: 'yes',
      CURRENT_MODULE_ID: 'default',
      HTTPS: 'off',
      // The platform's own variables stay out.
      HANGAR_TOKEN: 'unset',
      HOME: 'unset',
      // Nobody signed in (S11): USER_* empty, no REMOTE_USER/AUTH_TYPE (RFC 3875 4.1.2, 4.1.11).
      USER_EMAIL: '',
      USER_IS_ADMIN: '0',
      REMOTE_USER: 'unset',
      AUTH_TYPE: 'unset',
    });
    expect(env.REQUEST_LOG_ID).toMatch(/^[0-9a-f]{32}$/);
    expect(env.APPLICATION_ID).toMatch(/^dev~/);
    expect(env.SERVER_PORT).toBe(new URL(dev.url).port);
    // stderr lines are the request's, at warning.
    const entry = await entryOf('/env?a=1&b=%20x', 1);
    expect(entry.lines.map((l) => [l.level, l.message])).toContainEqual(['warning', 'to stderr from /env']);
  });

  it('reads a POSTed form on stdin and answers with its own Status and headers (python3)', async () => {
    const form = await fetch(`${dev.url}/form?who=ada`);
    expect(await form.text()).toContain('value=ada');
    const posted = await fetch(`${dev.url}/form`, {
      method: 'POST',
      body: new URLSearchParams({ name: 'Grace Hopper', lang: 'COBOL' }),
    });
    expect(posted.status).toBe(201);
    expect(posted.headers.get('x-form')).toBe('yes');
    expect(await posted.text()).toBe('lang=COBOL\nname=Grace Hopper\n');
  });

  it('passes Status and repeated headers through (perl)', async () => {
    const res = await fetch(`${dev.url}/status`);
    expect(res.status).toBe(404);
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.text()).toBe('no such thing\n');
  });

  it('follows a local redirect inside the platform, sends a client one out, stops a loop', async () => {
    const local = await fetch(`${dev.url}/redirect/local`, { redirect: 'manual' });
    expect(local.status).toBe(200);
    const env = variables(await local.text());
    // What a GET of /env?via=local gets, served by the other script.
    expect(env.PATH_INFO).toBe('/env');
    expect(env.QUERY_STRING).toBe('via=local');
    const client = await fetch(`${dev.url}/redirect/client`, { redirect: 'manual' });
    expect(client.status).toBe(302);
    expect(client.headers.get('location')).toBe('http://example.invalid/elsewhere');
    const loop = await fetch(`${dev.url}/redirect/loop`, { redirect: 'manual' });
    expect(loop.status).toBe(500);
    const entry = await entryOf('/redirect/loop');
    expect(entry.error ?? '').toMatch(/redirected locally more than 10 times/);
  });

  it('takes and gives bodies up to the 32 MB limits, byte for byte', async () => {
    const body = Buffer.alloc(30 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;
    const res = await fetch(`${dev.url}/big`, { method: 'POST', body });
    const [size, sha] = (await res.text()).trim().split(' ');
    expect(Number(size)).toBe(body.length);
    expect(sha).toBe(createHash('sha256').update(body).digest('hex'));

    const out = await fetch(`${dev.url}/big?out=${31 * 1024 * 1024}`);
    const bytes = Buffer.from(await out.arrayBuffer());
    expect(bytes.length).toBe(31 * 1024 * 1024);
    expect(bytes[257]).toBe(1);
    // Past max_response_bytes (32 MiB): refused, not truncated.
    const over = await fetch(`${dev.url}/big?out=${33 * 1024 * 1024}`);
    expect(over.status).toBe(500);
  });

  it('answers 500 with the reason logged for a non-zero exit and for output without a header block', async () => {
    const failed = await fetch(`${dev.url}/fail`);
    expect(failed.status).toBe(500);
    // The page says nothing of the script; the log says what happened.
    expect(await failed.text()).not.toContain('half a page');
    const failedEntry = await entryOf('/fail', 2);
    const failedLines = failedEntry.lines.map((l) => l.message).join('\n');
    expect(failedLines).toContain('something broke');
    expect(failedLines).toMatch(/exited with code 1/);

    const bare = await fetch(`${dev.url}/noheader`);
    expect(bare.status).toBe(500);
    const bareEntry = await entryOf('/noheader', 1);
    expect(bareEntry.lines.map((l) => l.message).join('\n')).toMatch(/header/i);
  });

  it('kills the whole process group of a script that runs past the deadline', async () => {
    const started = Date.now();
    const res = await fetch(`${dev.url}/hang`);
    expect(res.status).toBe(500);
    expect(Date.now() - started).toBeLessThan(10_000);
    const entry = await entryOf('/hang', 1);
    const pids = entry.lines.map((l) => /^pids (\d+) (\d+)$/.exec(l.message)).find((m) => m !== null);
    expect(pids).toBeDefined();
    const [script, child] = [Number(pids![1]), Number(pids![2])];
    // Both gone: the script and the child it left in the background (reaped within a bound).
    const deadline = Date.now() + 5_000;
    while ((alive(script) || alive(child)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(alive(script)).toBe(false);
    expect(alive(child)).toBe(false);
    // The instance serves the next request.
    expect((await fetch(`${dev.url}/status`)).status).toBe(404);
  });
});

describe('.js/.ts CGI scripts inside the instance (the main() rule of S7)', () => {
  it('with main(): imported once, module state kept across requests', async () => {
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push(await (await fetch(`${dev.url}/kept`)).text());
    const counts = texts.map((t) => Number(/count=(\d+)/.exec(t)![1]));
    expect(counts).toEqual([counts[0], counts[0]! + 1, counts[0]! + 2]);
    // One evaluation: the same load time in every answer.
    expect(new Set(texts.map((t) => /loadedAt=(\d+)/.exec(t)![1])).size).toBe(1);
    expect(texts[0]).toContain('method=GET path=/kept');
    // console.warn is the request's log line (stderr), console.log its output (stdout).
    const entry = await entryOf('/kept', 1);
    expect(entry.lines.map((l) => [l.level, l.message])).toContainEqual([
      'warning',
      `kept count ${counts[2]}`,
    ]);
  });

  it('without main(): evaluated afresh for every request, its body on process.stdin', async () => {
    for (const body of ['one', 'two']) {
      const res = await fetch(`${dev.url}/fresh`, { method: 'POST', body });
      expect(await res.text()).toBe(`count=1 body=${body} gateway=CGI/1.1\n`);
    }
  });

  it('output past max_response_bytes is refused with a 500, and the instance serves on', async () => {
    const flood = await fetch(`${dev.url}/flood`);
    expect(flood.status).toBe(500);
    expect((await fetch(`${dev.url}/status`)).status).toBe(404);
  });

  it('TypeScript runs as CGI too, with its own Status', async () => {
    const res = await fetch(`${dev.url}/typed?x=1`);
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('typed x=1\n');
  });
});

describe('examples/cgi', () => {
  it('serves its shell page, its Perl greeting and its Python form, with the form’s line in the log', async () => {
    const example = await startDev([join(repoRoot, 'examples/cgi')], ['--no-watch']);
    const index = await (await fetch(`${example.url}/`)).text();
    expect(index).toMatch(/Served by Development\/[\d.]+ for request [0-9a-f]{32}/);
    expect(await (await fetch(`${example.url}/hello?name=Ada`)).text()).toBe('Hello, Ada!\n');
    const sent = await fetch(`${example.url}/feedback`, {
      method: 'POST',
      body: new URLSearchParams({ text: 'works' }),
      redirect: 'manual',
    });
    expect(sent.status).toBe(303);
    expect(sent.headers.get('location')).toBe('/feedback?thanks=1');
    expect(await (await fetch(`${example.url}/feedback?thanks=1`)).text()).toContain(
      'Thanks, it is in the log.',
    );
    const deadline = Date.now() + 10_000;
    let lines: string[] = [];
    while (!lines.includes('feedback: works') && Date.now() < deadline) {
      const page = await adminGet<LogPage>(example, '/api/logs?limit=20');
      lines = page.entries.filter((e) => e.method === 'POST').flatMap((e) => e.lines.map((l) => l.message));
      if (!lines.includes('feedback: works')) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(lines).toContain('feedback: works');
    await example.stop();
  });
});

describe('git http-backend, unchanged, behind Hangar', () => {
  it('clones an empty repository, pushes a commit, and clones it back', () => {
    const repos = join(app, 'repos');
    execFileSync('git', ['init', '--quiet', '--bare', join(repos, 'demo.git')]);
    // Pushing over HTTP is off unless the repository allows it (git-http-backend(1)).
    execFileSync('git', ['-C', join(repos, 'demo.git'), 'config', 'http.receivepack', 'true']);
    const work = mkdtempSync(join(tmpdir(), 'hangar-git-'));
    temps.push(work);
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', ...args], {
        cwd,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30_000,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      });
    git(work, 'clone', '--quiet', `${dev.url}/git/demo.git`, 'first');
    writeFileSync(join(work, 'first', 'README'), 'pushed through hangar\n');
    git(join(work, 'first'), 'add', 'README');
    git(join(work, 'first'), 'commit', '--quiet', '-m', 'first commit');
    git(join(work, 'first'), 'push', '--quiet', 'origin', 'HEAD');
    git(work, 'clone', '--quiet', `${dev.url}/git/demo.git`, 'second');
    expect(readFileSync(join(work, 'second', 'README'), 'utf8')).toBe('pushed through hangar\n');
    expect(git(join(work, 'second'), 'log', '--format=%s').trim()).toBe('first commit');
  });
});
