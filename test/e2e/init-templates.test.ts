/**
 * `hangar init`'s templates (src/cli/init.ts, templates/) as a new user meets them: each is
 * written into a temp dir; its packages are made available as `npm install` would, but without
 * the network, by linking them from Hangar's own node_modules; its own `npm test` must pass (and
 * fail once its greeting is changed, so a green run means the test looked); and the built
 * `hangar dev` must serve it. Every wait is bounded; processes are stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { initApp, type TemplateName, templateNames } from '../../src/cli/init.js';
import { startDev, stopAll } from '../helpers/dev-server.js';
import { watchOutput } from '../helpers/process-output.js';
import { linkPackages } from '../helpers/template-deps.js';

const temps: string[] = [];
/** `npm test` runs still going (each leads its own process group). */
const running = new Set<ChildProcess>();

function stopGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // npm runs the test in a shell that starts node (and tsx another node): the whole group goes.
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

afterEach(async () => {
  for (const child of running) stopGroup(child);
  running.clear();
  await stopAll();
});

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

interface Check {
  path: string;
  status: number;
  body: string | RegExp;
}

/** What each template says, where its source says it, and what `hangar dev` must answer. */
const cases: Record<TemplateName, { greeting: string; source: string; checks: Check[] }> = {
  fetch: {
    greeting: 'Hello from Hangar!',
    source: 'main.ts',
    checks: [
      { path: '/', status: 200, body: 'Hello from Hangar!\n' },
      { path: '/static/index.html', status: 200, body: /<h1>Hello from Hangar<\/h1>/ },
      { path: '/nowhere', status: 404, body: /Nothing at \/nowhere/ },
    ],
  },
  hono: {
    greeting: 'Hello from Hono!',
    source: 'main.ts',
    checks: [
      { path: '/', status: 200, body: 'Hello from Hono!\n' },
      { path: '/hello/you', status: 200, body: '{"hello":"you"}' },
    ],
  },
  express: {
    greeting: 'Hello from Express!',
    source: 'app.js',
    checks: [
      { path: '/', status: 200, body: 'Hello from Express!\n' },
      { path: '/hello/you', status: 200, body: '{"hello":"you"}' },
    ],
  },
  cgi: {
    greeting: 'Hello from CGI!',
    source: 'cgi-bin/index.sh',
    checks: [
      { path: '/', status: 200, body: /<h1>Hello from CGI!<\/h1>/ },
      { path: '/hello?name=Hangar', status: 200, body: 'Hello, Hangar!\n' },
    ],
  },
  entrypoint: {
    greeting: 'Hello from your own server!',
    source: 'server.js',
    checks: [
      { path: '/', status: 200, body: 'Hello from your own server!\n' },
      { path: '/nowhere', status: 404, body: 'Nothing at /nowhere.\n' },
    ],
  },
};

/** Runs `npm test` in `appDir` as a user would; resolves with its exit code and output. */
async function npmTest(appDir: string): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Nothing may reach the registry: not npm's update check, nor anything else.
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    NO_COLOR: '1',
  };
  // Set when this runs under a node:test runner: the app's runner would report to it instead.
  delete env.NODE_TEST_CONTEXT;
  const child = spawn('npm', ['test'], {
    cwd: appDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  const output = watchOutput(child, 'npm test');
  const timer = setTimeout(() => stopGroup(child), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  running.delete(child);
  return { code, output: output.text() };
}

describe.each(templateNames())('hangar init --template %s', (template) => {
  it('passes its own npm test, fails it once its greeting changes, and runs under hangar dev', {
    timeout: 120_000,
  }, async () => {
    const base = mkdtempSync(join(tmpdir(), 'hangar-init-e2e-'));
    temps.push(base);
    const appDir = join(base, `${template}-app`);
    const { files, needsInstall } = await initApp(appDir, template);
    expect(files).toContain('app.yaml');

    const linked = linkPackages(appDir);
    expect(linked.length > 0).toBe(needsInstall);

    const passing = await npmTest(appDir);
    expect(passing.code, passing.output).toBe(0);
    // The runner found the test file and ran its tests (TAP when not on a terminal).
    expect(passing.output).toMatch(/^# pass [1-9]/m);
    expect(passing.output).toMatch(/^# fail 0$/m);

    const { greeting, source, checks } = cases[template];
    const dev = await startDev([appDir], ['--no-watch']);
    for (const check of checks) {
      const res = await fetch(dev.url + check.path);
      const body = await res.text();
      expect(res.status, `${check.path}: ${body}\n${dev.output()}`).toBe(check.status);
      if (typeof check.body === 'string') expect(body, check.path).toBe(check.body);
      else expect(body, check.path).toMatch(check.body);
    }
    await dev.stop();

    // The same run with the greeting changed must fail: the template's test checks the answer.
    const file = join(appDir, source);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(greeting);
    writeFileSync(file, text.replaceAll(greeting, 'Goodbye!'));
    const failing = await npmTest(appDir);
    expect(failing.code, failing.output).not.toBe(0);
    expect(failing.output).toMatch(/^# fail [1-9]/m);
  });
});
