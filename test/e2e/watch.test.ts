import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyFixture, startDev, stopAll } from '../helpers/dev-server.js';

/** Polls until `check` passes; fails after `ms`. The bound is the acceptance limit, not a sleep. */
async function within<T>(ms: number, attempt: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await attempt();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(last)} after ${ms} ms`);
    await new Promise((resolve) => setImmediate(resolve));
    last = await attempt();
  }
  return last;
}

describe('file watching', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await stopAll();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('serves edited handler code on a request within 2 s of the edit', async () => {
    const dir = copyFixture('watch-app');
    dirs.push(dir);
    const dev = await startDev([dir]);
    expect(await (await fetch(dev.url)).text()).toBe('version one');

    writeFileSync(join(dir, 'main.ts'), "export const app = (): Response => new Response('version two');\n");
    const edited = Date.now();
    const body = await within(
      2_000,
      async () => (await fetch(dev.url)).text(),
      (text) => text === 'version two',
    );
    expect(body).toBe('version two');
    expect(Date.now() - edited).toBeLessThan(2_000);
    expect(dev.output()).toMatch(/main\.ts changed; reloading default/);
  });

  it('reloads app.yaml changes, and keeps serving when the new app.yaml is invalid', async () => {
    const dir = copyFixture('watch-app');
    dirs.push(dir);
    const dev = await startDev([dir]);
    expect(await (await fetch(dev.url)).text()).toBe('version one');
    writeFileSync(
      join(dir, 'app.yaml'),
      'runtime: nodejs20\nhandlers:\n  - url: ^/broken\n    script: main.app\n',
    );
    await dev.waitFor(/still serving the previous app\.yaml/);
    expect(dev.output()).toMatch(/app\.yaml:3:\d+ handlers\[0\]\.url/);
    expect(await (await fetch(dev.url)).text()).toBe('version one');

    writeFileSync(
      join(dir, 'app.yaml'),
      'runtime: nodejs20\nhandlers:\n  - url: /only\n    script: main.app\n',
    );
    const status = await within(
      2_000,
      async () => (await fetch(`${dev.url}/elsewhere`)).status,
      (s) => s === 404,
    );
    expect(status).toBe(404);
  });

  it('--no-watch keeps serving the code it started with', async () => {
    const dir = copyFixture('watch-app');
    dirs.push(dir);
    const dev = await startDev([dir], ['--no-watch']);
    // The instance has imported main.ts once this answers; an edit after that must not show.
    expect(await (await fetch(dev.url)).text()).toBe('version one');
    writeFileSync(join(dir, 'main.ts'), "export const app = (): Response => new Response('version two');\n");
    // A watching server reloads within the 50 ms debounce plus an instance start; give it ample time to be wrong.
    const deadline = Date.now() + 1_500;
    while (Date.now() < deadline) {
      expect(await (await fetch(dev.url)).text()).toBe('version one');
    }
    expect(dev.output()).not.toMatch(/changed; reloading/);
  });
});
