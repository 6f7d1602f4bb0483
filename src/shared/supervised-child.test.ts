/**
 * The supervisor against fake children (test/fixtures/children/): one healthy, one that
 * crashes, one that says it failed, one that hangs, one that ignores stop, one that dies later.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildStartError, SupervisedChild, startSupervisedChild } from './supervised-child.js';

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../test/fixtures/children/${name}.mjs`, import.meta.url));

const isType = (message: unknown, type: string): message is Record<string, unknown> =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

/** What the platform's callers do: `ready` is ready, `failed` carries its reason. */
const isReady = (message: unknown): true | string | undefined => {
  if (isType(message, 'ready')) return true;
  if (isType(message, 'failed')) return String(message.message);
  return undefined;
};

/** Generous for the children that do start: two shared cores can be slow to start Node. */
const START_MS = 10_000;

const started: SupervisedChild[] = [];
afterEach(async () => {
  for (const child of started.splice(0)) {
    child.kill();
    await child.exited;
  }
});

async function start(name: string, options: { onLine?: (stream: string, line: string) => void } = {}) {
  const child = await startSupervisedChild({
    args: [fixture(name)],
    isReady,
    startTimeoutMs: START_MS,
    ...options,
  });
  started.push(child);
  return child;
}

/** The rejection of a start, checked to be a ChildStartError. */
async function failureOf(start: Promise<unknown>): Promise<ChildStartError> {
  const err = await start.then(
    () => expect.unreachable('the child started'),
    (err: unknown) => err,
  );
  expect(err).toBeInstanceOf(ChildStartError);
  return err as ChildStartError;
}

function gone(pid: number | undefined): boolean {
  expect(pid).toBeTypeOf('number');
  try {
    process.kill(pid as number, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('startSupervisedChild', () => {
  it('starts a healthy child, talks to it and stops it without killing it', async () => {
    const child = await start('healthy');
    expect(child.running).toBe(true);
    expect(child.connected).toBe(true);
    const pong = new Promise((resolve) => child.onMessage((m) => isType(m, 'pong') && resolve(m.id)));
    expect(child.send({ type: 'ping', id: 42 })).toBe(true);
    expect(await pong).toBe(42);

    const result = await child.stop({ message: { type: 'stop' }, graceMs: START_MS });
    expect(result).toEqual({ code: 0, signal: null, killed: false });
    expect(child.running).toBe(false);
    expect(gone(child.pid)).toBe(true);
    // After exit: nothing to send to, nothing thrown; a second stop says the same.
    expect(child.send({ type: 'ping', id: 43 })).toBe(false);
    expect(await child.stop({ message: { type: 'stop' }, graceMs: 10 })).toEqual(result);
  });

  it('rejects a crash during start with the exit code and the stderr, last partial line included', async () => {
    const err = await failureOf(
      startSupervisedChild({ args: [fixture('crash-on-start')], isReady, startTimeoutMs: START_MS }),
    );
    expect(err.kind).toBe('exited');
    expect(err.reason).toBe('it exited (code 3) before it was ready');
    expect(err.stderr).toBe('loading config\nError: cannot open /nowhere/config.json');
    expect(err.message).toContain('code 3');
    expect(err.message).toContain('Error: cannot open /nowhere/config.json');
  });

  it('rejects a reported failure with its reason and kills the child that stayed up', async () => {
    const child = new SupervisedChild({ args: [fixture('fails')] });
    started.push(child);
    const err = await failureOf(child.ready({ isReady, startTimeoutMs: START_MS }));
    expect(err.kind).toBe('failed');
    expect(err.reason).toBe('port 8080 is taken');
    expect(err.stderr).toBe('listen EADDRINUSE');
    expect(err.message).toBe('port 8080 is taken\n--- stderr ---\nlisten EADDRINUSE');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(gone(child.pid)).toBe(true);
  });

  it('kills a child that never reports ready after the start timeout; its pid is gone', async () => {
    const child = new SupervisedChild({ args: [fixture('hangs')] });
    started.push(child);
    const before = Date.now();
    const err = await failureOf(child.ready({ isReady, startTimeoutMs: 300 }));
    expect(Date.now() - before).toBeGreaterThanOrEqual(295);
    expect(err.kind).toBe('timeout');
    expect(err.reason).toBe('it did not report ready within 300 ms');
    expect(err.stderr).toBe('still warming up');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(gone(child.pid)).toBe(true);
  });

  it('kills a child that ignores stop after graceMs and says so', async () => {
    const child = await start('ignores-stop');
    const before = Date.now();
    const result = await child.stop({ message: { type: 'stop' }, graceMs: 300 });
    expect(Date.now() - before).toBeGreaterThanOrEqual(295);
    expect(result).toEqual({
      code: null,
      signal: 'SIGKILL',
      killed: true,
      reason: 'it did not exit within 300 ms of stop',
    });
    expect(gone(child.pid)).toBe(true);
  });

  it('passes the caller a reason for the kill when it gives one', async () => {
    const child = await start('ignores-stop');
    const result = await child.stop({ message: { type: 'stop' }, graceMs: 50, reason: 'drain ran out' });
    expect(result).toMatchObject({ killed: true, reason: 'drain ran out' });
  });

  it('hands each line of stdout and stderr to onLine', async () => {
    const lines: string[] = [];
    let sawAll: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      sawAll = resolve;
    });
    await start('healthy', {
      onLine: (stream, line) => {
        lines.push(`${stream}: ${line}`);
        if (lines.length === 3) sawAll();
      },
    });
    await all;
    expect(lines.filter((line) => line.startsWith('stdout'))).toEqual([
      'stdout: first line',
      'stdout: second line',
    ]);
    expect(lines.filter((line) => line.startsWith('stderr'))).toEqual(['stderr: a warning on stderr']);
  });

  it('reports an exit after ready to onExit, also to a listener added after it', async () => {
    const child = await start('exits-later');
    const heard = await new Promise((resolve) => child.onExit((code, signal) => resolve({ code, signal })));
    expect(heard).toEqual({ code: 7, signal: null });
    const late = await new Promise((resolve) => child.onExit((code) => resolve(code)));
    expect(late).toBe(7);
    let cancelledCalled = false;
    child.onExit(() => {
      cancelledCalled = true;
    })();
    await child.exited;
    await Promise.resolve();
    expect(cancelledCalled).toBe(false);
    expect(child.running).toBe(false);
    expect(child.connected).toBe(false);
  });

  it('rejects a child that cannot be spawned', async () => {
    const err = await failureOf(
      startSupervisedChild({
        args: [fixture('healthy')],
        cwd: '/nonexistent/hangar-test-dir',
        isReady,
        startTimeoutMs: START_MS,
      }),
    );
    expect(err.kind).toBe('error');
    expect(err.reason).toContain('ENOENT');
  });
});
