import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

const tsx = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).href;
const writerModule = new URL('./terminal-writer.ts', import.meta.url).href;

/** 1,000 entries of ~1 KiB (even count): far more than a pipe holds while nobody reads it. */
const ENTRIES = 1000;

const children = new Set<ChildProcess>();
afterEach(() => {
  // A test that failed half-way leaves its writer waiting for 'go': stopped by its pid.
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

/**
 * A process that writes ENTRIES entries to its stdout (a pipe this test does not read yet)
 * through a TerminalWriter, after making the pipe non-blocking as the platform's main thread
 * does by using `process.stdout`; it says over IPC how much it still holds, then closes the
 * writer and exits.
 */
function writer(options: string): ChildProcess {
  const script = `
    import { TerminalWriter } from ${JSON.stringify(writerModule)};
    process.stdout.write('start\\n');
    const terminal = new TerminalWriter(${options});
    const write = (from, to) => {
      for (let i = from; i < to; i++) terminal.write('entry ' + i + ' ' + 'x'.repeat(1000) + ' é end');
    };
    // Two turns: the second turn's text waits behind what the pipe refused from the first.
    write(0, ${ENTRIES / 2});
    setImmediate(() => {
      write(${ENTRIES / 2}, ${ENTRIES});
      setImmediate(() => {
        process.send({ waitingBytes: terminal.waitingBytes });
        process.once('message', () => {
          terminal.close();
          process.disconnect();
        });
      });
    });
  `;
  const child = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.add(child);
  return child;
}

/** Lets the child go on and reads all it writes until it exits. */
async function readAll(child: ChildProcess): Promise<string> {
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    output += chunk;
  });
  child.send('go');
  await once(child, 'exit');
  return output;
}

describe('TerminalWriter', () => {
  it('keeps what a non-blocking pipe refused and writes it once the reader catches up', async () => {
    const child = writer('{ fd: 1 }');
    const [{ waitingBytes }] = (await once(child, 'message')) as [{ waitingBytes: number }];
    // The pipe was full: part of the text waited in the writer instead of being dropped.
    expect(waitingBytes).toBeGreaterThan(0);
    const lines = (await readAll(child)).split('\n');
    expect(lines[0]).toBe('start');
    const entries = lines.filter((line) => line.startsWith('entry '));
    expect(entries).toHaveLength(ENTRIES);
    entries.forEach((line, i) => {
      expect(line).toBe(`entry ${i} ${'x'.repeat(1000)} é end`);
    });
  });

  it('past its backlog limit leaves whole entries out and says how many', async () => {
    const child = writer('{ fd: 1, maxBacklogBytes: 100_000 }');
    await once(child, 'message');
    const lines = (await readAll(child)).split('\n');
    const entries = lines.filter((line) => line.startsWith('entry '));
    for (const line of entries) expect(line).toMatch(/^entry \d+ x{1000} é end$/);
    const notices = lines.filter((line) => line.startsWith('[hangar]'));
    expect(notices.length).toBeGreaterThan(0);
    let notShown = 0;
    for (const notice of notices) {
      expect(notice).toMatch(/^\[hangar\] \d+ requests? not shown here: .* \(hangar logs\)\.$/);
      notShown += Number(notice.match(/\d+/)![0]);
    }
    expect(entries.length + notShown).toBe(ENTRIES);
    // Each notice stands where its entries were left out: the numbers shown skip exactly those.
    let expected = 0;
    for (const line of lines) {
      if (line.startsWith('[hangar]')) expected += Number(line.match(/\d+/)![0]);
      else if (line.startsWith('entry ')) expect(Number(line.split(' ')[1])).toBe(expected++);
    }
  });
});
