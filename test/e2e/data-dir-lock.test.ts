/**
 * One platform per data dir (issue 17): a second `hangar dev` on a data dir in use is refused
 * with the first one's pid and ports and leaves the first untouched; a lock left by a killed
 * platform is taken over. Real processes, loopback only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, repoRoot, startDev, stopAll } from '../helpers/dev-server.js';
import { watchOutput } from '../helpers/process-output.js';

const dataDir = mkdtempSync(join(tmpdir(), 'hangar-lock-'));
afterAll(async () => {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

const hello = join(repoRoot, 'examples/hello');

/** `hangar dev` on `dataDir` that is expected to stop by itself: its exit code and output. */
async function devThatExits(): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    [cli, 'dev', hello, '--port', '0', '--admin-port', '0', '--data-dir', dataDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  const output = watchOutput(child, 'second hangar dev');
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { code, output: output.text() };
}

describe('one platform per data dir', () => {
  it('refuses a second platform, naming the first; the first serves on; after it stops the dir is free', async () => {
    const first = await startDev([hello], ['--no-watch'], { dataDir });
    const adminPort = new URL(first.adminUrl).port;
    const second = await devThatExits();
    expect(second.code).toBe(1);
    expect(second.output).toContain(
      `the data dir ${dataDir} is in use by another Hangar platform, pid ${first.process.pid} (port ${new URL(first.url).port}, admin port ${adminPort})`,
    );
    expect(await (await fetch(first.url)).text()).toBe('Hello, World!');
    await first.stop();
    const third = await startDev([hello], ['--no-watch'], { dataDir });
    expect(await (await fetch(third.url)).text()).toBe('Hello, World!');

    // Killed without a chance to release it: the next platform takes the lock over.
    third.process.kill('SIGKILL');
    await new Promise((resolve) => third.process.once('exit', resolve));
    const fourth = await startDev([hello], ['--no-watch'], { dataDir });
    expect(await (await fetch(fourth.url)).text()).toBe('Hello, World!');
    await fourth.stop();
  });
});
