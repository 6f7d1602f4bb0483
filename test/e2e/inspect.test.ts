import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  adminGet,
  copyFixture,
  type DevServer,
  type InstancesDoc,
  startDev,
  stopAll,
} from '../helpers/dev-server.js';

/** A Chrome DevTools Protocol session over the debugger port, as Chrome or VS Code would open it. */
async function attach(port: number): Promise<{
  call(method: string, params?: object): Promise<Record<string, unknown>>;
  close(): void;
}> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl: string;
  }>;
  expect(targets).toHaveLength(1);
  const target = targets[0]!.webSocketDebuggerUrl;
  // The address the inspector hands out is the debugger port's, not the instance's own.
  expect(target).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${port}/`));
  const ws = new WebSocket(target);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve);
    ws.addEventListener('error', reject);
  });
  let next = 1;
  const waiting = new Map<number, (result: Record<string, unknown>) => void>();
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown> };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result ?? {});
  });
  return {
    call(method, params = {}) {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close: () => ws.close(),
  };
}

async function pidOverDebugger(port: number): Promise<number> {
  const session = await attach(port);
  try {
    const { result } = (await session.call('Runtime.evaluate', { expression: 'process.pid' })) as {
      result: { value: number };
    };
    return result.value;
  } finally {
    session.close();
  }
}

async function readyPids(dev: DevServer): Promise<number[]> {
  const { instances } = await adminGet<InstancesDoc>(dev, '/api/instances');
  return instances.filter((i) => i.state === 'ready').map((i) => i.pid ?? -1);
}

describe('hangar dev --inspect', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await stopAll();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function inspected(config = ''): Promise<{ dev: DevServer; dir: string; port: number }> {
    const dir = copyFixture('watch-app');
    const dataDir = mkdtempSync(join(tmpdir(), 'hangar-data-'));
    dirs.push(dir, dataDir);
    if (config) writeFileSync(join(dataDir, 'hangar.config.yaml'), config);
    const dev = await startDev([dir], ['--inspect=0'], { dataDir });
    const [, port] = await dev.waitFor(/debugger for default: 127\.0\.0\.1:(\d+)/);
    expect(await (await fetch(dev.url)).text()).toBe('version one');
    return { dev, dir, port: Number(port) };
  }

  it("reaches the serving instance's inspector on a stable port, and after a reload the new instance's", async () => {
    const { dev, dir, port } = await inspected();
    const [first] = await readyPids(dev);
    expect(await pidOverDebugger(port)).toBe(first);
    // Node's own line names the port inside the instance's namespace, which nobody can reach.
    expect(dev.output()).not.toMatch(/Debugger listening on/);

    writeFileSync(join(dir, 'main.ts'), "export const app = (): Response => new Response('version two');\n");
    await dev.waitFor(/stop [0-9a-f]+: the code changed and the new code loaded/);
    expect(await (await fetch(dev.url)).text()).toBe('version two');
    const [second] = await readyPids(dev);
    expect(second).not.toBe(first);
    expect(await pidOverDebugger(port)).toBe(second);
  });

  it('an instance held at a breakpoint past its deadline is not killed as stuck', async () => {
    // Without --inspect an instance whose loop does not answer within 300 ms after a request's
    // deadline is killed (S6); paused by a debugger it must live on.
    const { dev, port } = await inspected(
      'limits:\n  request_deadline: 1s\n  deadline_grace: 100ms\n  unresponsive_after: 300ms\n',
    );
    const [pid] = await readyPids(dev);
    const session = await attach(port);
    await session.call('Debugger.enable');
    await session.call('Debugger.pause');
    // The request cannot run while the loop is paused: it ends at its deadline.
    const res = await fetch(dev.url);
    expect(res.status).toBe(500);
    await res.arrayBuffer();
    await session.call('Debugger.resume');
    session.close();
    expect(await (await fetch(dev.url)).text()).toBe('version one');
    expect(await readyPids(dev)).toEqual([pid]);
    expect(dev.output()).not.toMatch(/did not answer a ping/);
  });
});
