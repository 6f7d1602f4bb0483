import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type DevServer, repoRoot, startDev, stopAll } from '../helpers/dev-server.js';

const fixtures = join(repoRoot, 'test/fixtures');

/** Runs `test` on a temp app dir holding `files` (path → content), removed afterwards. */
async function withApp(prefix: string, files: Record<string, string>, test: (dir: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    await test(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const oneHandler = 'runtime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n';

describe('module handlers (S4.1)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([join(fixtures, 'modules')], ['--no-watch']);
  });
  afterAll(() => dev.stop());

  it('runs a real Hono app exported unchanged', async () => {
    expect(await (await fetch(`${dev.url}/hono`)).text()).toBe('hono root');
    const res = await fetch(`${dev.url}/hono/users/42`);
    expect(await res.json()).toEqual({ id: '42', greeting: 'hi' });
  });

  it('runs a real Express app through fromNode, and hides the internal headers from it', async () => {
    const root = await (await fetch(`${dev.url}/express`)).text();
    expect(root).toMatch(/^express root [0-9a-f]{32}$/);
    const res = await fetch(`${dev.url}/express/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hangar-request-id': 'forged' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(await res.json()).toEqual({ got: { a: 1 }, secret: null });
  });

  it('resolves .cjs, .mts and .js modules and a named export other than app', async () => {
    expect(await (await fetch(`${dev.url}/cjs`)).text()).toBe('cjs /cjs');
    expect(await (await fetch(`${dev.url}/mts`)).text()).toBe('mts');
    expect(await (await fetch(`${dev.url}/js`)).text()).toBe('plain js');
    expect(await (await fetch(`${dev.url}/custom-export`)).text()).toBe('custom export');
  });

  it('imports `hangar` without a dependency and .ts files by their .js name', async () => {
    expect(await (await fetch(`${dev.url}/imports`)).text()).toMatch(/^IMPORTS WORK! [0-9a-f]{32}$/);
  });

  it('imports a module once per instance (S7)', async () => {
    const seen = [];
    for (let i = 0; i < 5; i++)
      seen.push((await (await fetch(`${dev.url}/counter`)).json()) as { loads: number; served: number });
    expect(seen.map((s) => s.loads)).toEqual([1, 1, 1, 1, 1]);
    expect(seen.map((s) => s.served)).toEqual([1, 2, 3, 4, 5]);
  });

  it('serves a static_dir whose url has a capture group of its own', async () => {
    for (const prefix of ['assets', 'files']) {
      const res = await fetch(`${dev.url}/${prefix}/a.txt`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await res.text()).toBe('plain text asset\n');
    }
  });

  it('answers 404 naming the path when no handler matches', async () => {
    const res = await fetch(`${dev.url}/not/routed?x=1`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('No handler in app.yaml matches /not/routed');
  });

  it('turns a handler that throws into a 500 without disturbing the instance', async () => {
    const res = await fetch(`${dev.url}/fails`);
    expect(res.status).toBe(500);
    await dev.waitFor(/handler blew up on purpose/);
    expect((await fetch(`${dev.url}/mts`)).status).toBe(200);
  });
});

describe('module errors name the module, the export and what it has', () => {
  afterAll(stopAll);

  it('a missing export', async () => {
    const dev = await startDev([join(fixtures, 'broken-export')], ['--no-watch']);
    const res = await fetch(`${dev.url}/`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toContain("module main.ts has no export 'app'; it exports: default, handler");
    await dev.waitFor(/module main\.ts has no export 'app'/);
    await dev.stop();
  });

  it('a module that throws while loading', async () => {
    const dev = await startDev([join(fixtures, 'broken-load')], ['--no-watch']);
    const res = await fetch(`${dev.url}/`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toContain('module main.ts failed to load');
    expect(body).toContain('cannot connect to the imaginary database at import time');
    // The platform keeps running and answers the next request with the same clear error.
    expect((await fetch(`${dev.url}/`)).status).toBe(500);
    await dev.stop();
  });

  it('an app with its own package.json and node_modules resolves its own dependencies', async () => {
    await withApp(
      'hangar-own-deps-',
      {
        'package.json': JSON.stringify({
          name: 'own-deps',
          type: 'module',
          dependencies: { greeting: '1.0.0' },
        }),
        'node_modules/greeting/package.json': JSON.stringify({
          name: 'greeting',
          version: '1.0.0',
          type: 'module',
          exports: './index.js',
        }),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the written module holds a template literal
        'node_modules/greeting/index.js': 'export const greet = (who) => `Grüezi, ${who}`;\n',
        'app.yaml': oneHandler,
        'main.ts':
          "import { greet } from 'greeting';\nexport const app = (): Response => new Response(greet('Hangar'));\n",
      },
      async (dir) => {
        const dev = await startDev([dir], ['--no-watch']);
        expect(await (await fetch(`${dev.url}/`)).text()).toBe('Grüezi, Hangar');
        await dev.stop();
      },
    );
  });

  it("uses the instance's light Response unless the app sets HANGAR_REAL_RESPONSE", async () => {
    // The light Response keeps its state under its own symbol; Node's has none by that name.
    const main = [
      'export const app = (): Response => {',
      "  const probe = new Response('x');",
      "  const light = Object.getOwnPropertySymbols(probe).some((s) => s.description === 'hangar.lightResponse');",
      '  return Response.json({ light, isResponse: probe instanceof Response, status: probe.status });',
      '};',
      '',
    ].join('\n');
    for (const [env, light] of [
      ['', true],
      ["env_variables:\n  HANGAR_REAL_RESPONSE: '1'\n", false],
    ] as const) {
      const appYaml = oneHandler.replace('handlers:', `${env}handlers:`);
      await withApp('hangar-response-kind-', { 'app.yaml': appYaml, 'main.ts': main }, async (dir) => {
        const dev = await startDev([dir], ['--no-watch']);
        expect(await (await fetch(`${dev.url}/`)).json()).toEqual({ light, isResponse: true, status: 200 });
        await dev.stop();
      });
    }
  });

  it("stops the instance's esbuild once it has compiled, and starts it again for a later TypeScript import", async () => {
    const files = {
      'app.yaml': oneHandler,
      'main.ts':
        "export const app = async (): Promise<Response> => new Response((await import('./later.ts')).word);\n",
      'later.ts': "export const word: string = 'compiled later';\n",
    };
    await withApp('hangar-esbuild-idle-', files, async (dir) => {
      const dev = await startDev([dir], ['--no-watch']);
      const { instances } = await adminGet<{ instances: Array<{ pid: number }> }>(dev, '/api/instances');
      const pid = instances[0]!.pid;
      // The instance's child processes that are esbuild services, from /proc.
      const esbuildChildren = () =>
        readdirSync('/proc').filter((entry) => {
          try {
            const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
            const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
            return ppid === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('--service=');
          } catch {
            return false;
          }
        }).length;
      await expect.poll(esbuildChildren, { timeout: 10_000, interval: 100 }).toBe(0);
      expect(await (await fetch(`${dev.url}/`)).text()).toBe('compiled later');
      await dev.stop();
    });
  });
});
