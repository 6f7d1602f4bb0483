/**
 * An attack on the `entrypoint` message (issue 16): the platform ends the process group an
 * instance names as its server's when the instance is killed, so app code in an instance could
 * name another group — here the platform's own. The platform must check that the group's leader
 * is the instance's child, and live on. The platform runs in a process group of its own, so a
 * regression kills it (the test fails), not the test runner.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/dev-server.js';
import { watchOutput } from '../helpers/process-output.js';
import { alive } from '../helpers/serve.js';

const app = mkdtempSync(join(tmpdir(), 'hangar-spoof-app-'));
const dataDir = mkdtempSync(join(tmpdir(), 'hangar-spoof-data-'));
afterAll(() => {
  rmSync(app, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe('an app naming the platform as its server (the entrypoint message)', () => {
  it('is not believed: killing the instance leaves the platform serving', async () => {
    writeFileSync(join(app, 'app.yaml'), 'runtime: nodejs20\nhandlers:\n- url: /.*\n  script: main.app\n');
    // The instance's parent is the platform: the app claims its pid as its server's group.
    writeFileSync(
      join(app, 'main.mjs'),
      "export const app = () => { process.send?.({ type: 'entrypoint', pid: process.ppid }); return new Response(`${process.ppid} ${process.pid}`); };\n",
    );
    const child = spawn(
      process.execPath,
      [cli, 'dev', app, '--no-watch', '--port', '0', '--admin-port', '0', '--data-dir', dataDir],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    const output = watchOutput(child, 'hangar dev');
    try {
      const [, url] = await output.waitFor(/^ {2}default \(version [^)]+\): (http:\/\/\S+)$/m);
      const [parent, instance] = (await (await fetch(url!)).text()).split(' ').map(Number);
      expect(parent).toBe(child.pid);
      process.kill(instance!, 'SIGKILL');
      // The platform replaces the instance and serves on; had it believed the app, it would have
      // ended its own process group.
      const deadline = Date.now() + 15_000;
      let answered = '';
      while (Date.now() < deadline) {
        try {
          const res = await fetch(url!);
          answered = await res.text();
          if (res.ok && !answered.endsWith(` ${instance}`)) break;
        } catch {
          // not answering (yet)
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(answered).toMatch(new RegExp(`^${child.pid} \\d+$`));
      expect(alive(child.pid!)).toBe(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
    }
  });
});
