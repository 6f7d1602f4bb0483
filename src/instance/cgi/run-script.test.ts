import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CgiRequest, cgiEnvironment } from './meta-variables.js';
import {
  type CgiOutcome,
  type CgiRunResult,
  cgiOutcome,
  type RunCgiOptions,
  runCgiScript,
} from './run-script.js';

// Real interpreters: the shebang names the binaries themselves (pyenv's python3 is a shim script).
const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).trim();
const perl = '/usr/bin/perl';

let dir: string;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'hangar-cgi-')));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
/** Processes a test left behind on purpose (an escaped daemon); killed after each test. */
const strays: number[] = [];
afterEach(() => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  vi.unstubAllEnvs();
});

function script(name: string, text: string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const request = (scriptPath: string, overrides: Partial<CgiRequest> = {}): CgiRequest => ({
  method: 'GET',
  url: '/cgi-bin/x?a=1',
  httpVersion: '1.1',
  headers: ['Host', 'shop.example:8080'],
  bodyLength: 0,
  remoteAddr: '127.0.0.1',
  https: false,
  serverName: 'shop.example',
  serverPort: 8080,
  scriptName: '/cgi-bin/x',
  pathInfo: '',
  scriptFilename: scriptPath,
  ...overrides,
});

function run(scriptPath: string, options: Partial<RunCgiOptions> = {}): Promise<CgiRunResult> {
  return runCgiScript({ scriptPath, env: cgiEnvironment(request(scriptPath)), ...options });
}

function ran(result: CgiRunResult) {
  if (result.kind !== 'ran') throw new Error(`the script did not start: ${result.message}`);
  return result;
}

function document(outcome: CgiOutcome) {
  if (outcome.kind !== 'document') throw new Error(`expected a document, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/**
 * Fails unless `pid` is gone. A killed process stays a zombie until init reaps it (here init
 * reaps in rounds, up to a second or two apart), so a zombie is waited for. A killed process
 * still shows as running for a moment while it exits (on a loaded machine, after it has closed
 * its pipes): one still running after 2 s was not killed.
 */
async function expectGone(pid: number): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 10_000; await delay(20)) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ESRCH');
      return;
    }
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch (err) {
      // Reaped between the signal check and the read: gone.
      expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
      return;
    }
    const state = stat.replace(/^.*\) /s, '')[0];
    if (state !== 'Z' && Date.now() - started > 2_000)
      throw new Error(`process ${pid} is still running (state ${state})`);
  }
  throw new Error(`process ${pid} is dead but was not reaped within 10 s`);
}

describe('runCgiScript', () => {
  it('gives a shell script the CGI environment, its directory as cwd, and nothing else of ours', async () => {
    vi.stubEnv('HANGAR_CGI_TEST_SECRET', 'must-not-leak');
    const path = script(
      'env.sh',
      '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n"\necho "CWD=$(pwd)"\nenv\n',
    );
    const env = cgiEnvironment(
      request(path, {
        url: '/cgi-bin/env.sh/some%20where?q=a+b',
        scriptName: '/cgi-bin/env.sh',
        pathInfo: '/some%20where',
        headers: ['Host', 'shop.example:8080', 'X-Custom', 'one', 'Cookie', 'a=1', 'Cookie', 'b=2'],
        extra: { APPLICATION_ID: 'dev~shop', TZ: 'UTC' },
      }),
    );
    const outcome = document(cgiOutcome(await runCgiScript({ scriptPath: path, env })));
    const vars = Object.fromEntries(
      outcome.body
        .toString()
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(vars).toMatchObject({
      CWD: dir,
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      QUERY_STRING: 'q=a+b',
      SCRIPT_NAME: '/cgi-bin/env.sh',
      SCRIPT_FILENAME: path,
      PATH_INFO: '/some where',
      SERVER_NAME: 'shop.example',
      SERVER_PORT: '8080',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      HTTPS: 'off',
      HTTP_HOST: 'shop.example:8080',
      HTTP_X_CUSTOM: 'one',
      HTTP_COOKIE: 'a=1; b=2',
      APPLICATION_ID: 'dev~shop',
      TZ: 'UTC',
      PATH: process.env.PATH,
    });
    expect(vars).not.toHaveProperty('HANGAR_CGI_TEST_SECRET');
    expect(vars).not.toHaveProperty('HOME');
  });

  it('feeds a POST body to a Python CGI on stdin', async () => {
    const path = script(
      'form.py',
      `#!${python}
import json, os, sys, urllib.parse
body = sys.stdin.buffer.read(int(os.environ["CONTENT_LENGTH"]))
form = urllib.parse.parse_qs(body.decode("utf-8"))
sys.stdout.write("Content-Type: application/json\\r\\n\\r\\n")
sys.stdout.write(json.dumps({"type": os.environ["CONTENT_TYPE"], "form": form}))
`,
    );
    const body = Buffer.from('name=J%C3%B6rg&msg=hello+world&msg=again');
    const env = cgiEnvironment(
      request(path, {
        method: 'POST',
        headers: ['Host', 'shop.example', 'Content-Type', 'application/x-www-form-urlencoded'],
        bodyLength: body.length,
      }),
    );
    const outcome = document(cgiOutcome(await runCgiScript({ scriptPath: path, env, body })));
    expect(outcome.headers).toEqual(['Content-Type', 'application/json']);
    expect(JSON.parse(outcome.body.toString())).toEqual({
      type: 'application/x-www-form-urlencoded',
      form: { name: ['Jörg'], msg: ['hello world', 'again'] },
    });
  });

  it('passes a Perl script’s Status: 404 on', async () => {
    const path = script(
      'missing.pl',
      `#!${perl}\nprint "Status: 404 Not Found\\r\\nContent-Type: text/plain\\r\\n\\r\\nno such thing\\n";\n`,
    );
    expect(cgiOutcome(await run(path))).toMatchObject({
      kind: 'document',
      status: 404,
      reason: 'Not Found',
      body: Buffer.from('no such thing\n'),
    });
  });

  it('tells a local redirect from a client redirect (Perl)', async () => {
    const local = script('local.pl', `#!${perl}\nprint "Location: /other/page?x=1\\n\\n";\n`);
    expect(cgiOutcome(await run(local))).toEqual({ kind: 'local-redirect', location: '/other/page?x=1' });
    const absolute = script('absolute.pl', `#!${perl}\nprint "Location: https://example.com/next\\n\\n";\n`);
    expect(cgiOutcome(await run(absolute))).toMatchObject({
      kind: 'client-redirect',
      status: 302,
      location: 'https://example.com/next',
    });
  });

  it('answers 500 with the exit code and the last stderr lines when the script exits non-zero', async () => {
    const path = script(
      'fails.sh',
      '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\npartial"\necho "first problem" >&2\necho "database is down" >&2\nexit 1\n',
    );
    const outcome = cgiOutcome(await run(path));
    expect(outcome).toMatchObject({ kind: 'failed', code: 'HANDLER_FAILED' });
    if (outcome.kind !== 'failed') return;
    expect(outcome.reason).toMatch(/^the script exited with code 1; the last lines it wrote to stderr:/);
    expect(outcome.reason).toContain('\n  first problem\n  database is down');
  });

  it('answers 500 naming the missing header block', async () => {
    const path = script('plain.sh', '#!/bin/sh\necho "hello world"\n');
    const outcome = cgiOutcome(await run(path));
    expect(outcome).toMatchObject({ kind: 'failed', code: 'HANDLER_FAILED' });
    if (outcome.kind === 'failed')
      expect(outcome.reason).toMatch(/no header block \(it starts with "hello world"\)/);
  });

  it('kills a script that writes more than 32 MiB', async () => {
    const path = script(
      'huge.py',
      `#!${python}
import sys
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\\n\\n")
chunk = b"x" * (1024 * 1024)
for _ in range(33):
    out.write(chunk)
`,
    );
    const result = ran(await run(path));
    expect(result).toMatchObject({
      tooLarge: true,
      timedOut: false,
      signal: 'SIGKILL',
      stdout: Buffer.alloc(0),
    });
    const outcome = cgiOutcome(result);
    expect(outcome).toMatchObject({ kind: 'failed', code: 'RESPONSE_TOO_LARGE' });
    if (outcome.kind === 'failed') expect(outcome.reason).toMatch(/wrote more than 32 MiB to stdout/);
  });

  it('takes exactly maxOutputBytes, and kills at one byte more', async () => {
    const path = script('ten.sh', '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n12345678"\n');
    expect(ran(await run(path, { maxOutputBytes: 34 })).tooLarge).toBe(false);
    expect(ran(await run(path, { maxOutputBytes: 33 })).tooLarge).toBe(true);
  });

  it('kills the whole process group at the deadline, the background child included', async () => {
    const path = script(
      'slow.sh',
      '#!/bin/sh\nsleep 30 &\necho "child $!" >&2\necho "self $$" >&2\nprintf "Content-Type: text/plain\\n\\n"\nsleep 30\n',
    );
    const pids: Record<string, number> = {};
    const started = Date.now();
    const result = ran(
      await run(path, {
        deadlineAt: started + 300,
        onStderrLine: (line) => {
          const [name, pid] = line.split(' ');
          pids[name!] = Number(pid);
        },
      }),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ timedOut: true, aborted: false, exitCode: null, signal: 'SIGKILL' });
    expect(cgiOutcome(result)).toMatchObject({ kind: 'deadline', code: 'DEADLINE_EXCEEDED' });
    expect(pids.child).toBeGreaterThan(0);
    await expectGone(pids.self!);
    await expectGone(pids.child!);
  });

  it('kills a child left in the background once the script exits', async () => {
    const path = script(
      'leaves.sh',
      '#!/bin/sh\nsleep 30 &\necho "$!" >&2\nprintf "Content-Type: text/plain\\n\\ndone"\n',
    );
    let child = 0;
    const outcome = cgiOutcome(await run(path, { onStderrLine: (line) => (child = Number(line)) }));
    expect(document(outcome).body.toString()).toBe('done');
    await expectGone(child);
  });

  it('stops reading when a process that left the group holds stdout open', async () => {
    // The FIFO makes the script wait until its child has left the group, or the group kill
    // at exit could catch the child before setsid and the test would prove nothing.
    const path = script(
      'daemon.sh',
      `#!/bin/sh
mkfifo ready.fifo
setsid sh -c 'echo $$ >&2; echo > ready.fifo; exec sleep 30' &
read line < ready.fifo
rm ready.fifo
printf "Content-Type: text/plain\\n\\nbye"
`,
    );
    const started = Date.now();
    const outcome = cgiOutcome(await run(path, { onStderrLine: (line) => strays.push(Number(line)) }));
    expect(document(outcome).body.toString()).toBe('bye');
    expect(Date.now() - started).toBeLessThan(10_000);
    // The escaped process still runs (so it did hold stdout open): afterEach kills it.
    expect(strays).toHaveLength(1);
    expect(readFileSync(`/proc/${strays[0]}/stat`, 'utf8').replace(/^.*\) /s, '')[0]).not.toBe('Z');
  });

  it('stops reading at the deadline when an escaped process keeps writing after the script exited', async () => {
    const path = script(
      'chatty-daemon.sh',
      `#!/bin/sh
mkfifo ready.fifo
printf "Content-Type: text/plain\\\\n\\\\n"
setsid sh -c 'echo $$ >&2; echo > ready.fifo; while :; do echo tick; sleep 0.1; done' &
read line < ready.fifo
rm ready.fifo
`,
    );
    const started = Date.now();
    const result = ran(
      await run(path, { deadlineAt: started + 1500, onStderrLine: (line) => strays.push(Number(line)) }),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    // The script itself ended in time: the response is what was written, ticks included.
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(document(cgiOutcome(result)).body.toString()).toMatch(/^(tick\n)+/);
  });

  it('kills the script when the signal aborts', async () => {
    const path = script('waits.sh', '#!/bin/sh\necho "self $$" >&2\nsleep 30\n');
    const controller = new AbortController();
    let self = 0;
    const result = ran(
      await run(path, {
        signal: controller.signal,
        onStderrLine: (line) => {
          self = Number(line.split(' ')[1]);
          controller.abort();
        },
      }),
    );
    expect(result).toMatchObject({ aborted: true, timedOut: false, signal: 'SIGKILL' });
    expect(cgiOutcome(result).kind).toBe('aborted');
    await expectGone(self);
  });

  it('does not start a script whose deadline passed or whose signal aborted already', async () => {
    const path = script('never.sh', `#!/bin/sh\ntouch "${dir}/ran"\n`);
    expect(ran(await run(path, { deadlineAt: Date.now() - 1 }))).toMatchObject({
      timedOut: true,
      exitCode: null,
    });
    expect(ran(await run(path, { signal: AbortSignal.abort() }))).toMatchObject({ aborted: true });
    expect(() => readFileSync(join(dir, 'ran'))).toThrow();
  });

  it('survives a script that does not read a 2 MB body (EPIPE), whole or in chunks', async () => {
    const path = script('deaf.sh', '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\nignored"\n');
    const body = randomBytes(2 * 1024 * 1024);
    expect(document(cgiOutcome(await run(path, { body }))).body.toString()).toBe('ignored');
    const chunks = Array.from({ length: 32 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
    expect(document(cgiOutcome(await run(path, { body: chunks }))).body.toString()).toBe('ignored');
  });

  it('round-trips a 10 MB binary body through a Python echo', async () => {
    const path = script(
      'echo.py',
      `#!${python}
import shutil, sys
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\\r\\n\\r\\n")
shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)
`,
    );
    const body = randomBytes(10 * 1024 * 1024);
    const whole = document(cgiOutcome(await run(path, { body })));
    expect(whole.body.equals(body)).toBe(true);
    async function* chunks() {
      for (let i = 0; i < body.length; i += 1_000_000) yield body.subarray(i, i + 1_000_000);
    }
    expect(document(cgiOutcome(await run(path, { body: chunks() }))).body.equals(body)).toBe(true);
  });

  it('preserves every byte value of a binary body (Perl)', async () => {
    const path = script(
      'bytes.pl',
      `#!${perl}\nbinmode STDOUT;\nprint "Content-Type: application/octet-stream\\r\\n\\r\\n";\nprint chr($_) for 0..255;\n`,
    );
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(document(cgiOutcome(await run(path))).body.equals(bytes)).toBe(true);
  });

  it('reports stderr lines in order as they arrive: CR stripped, long lines cut, the last line flushed', async () => {
    const path = script(
      'talks.py',
      `#!${python}
import sys
err = sys.stderr.buffer
err.write(b"one\\ntwo\\r\\n")
err.flush()
err.write(b"th")
err.flush()
err.write(b"ree \\xc3")
err.flush()
err.write(b"\\xa9\\n" + b"L" * (70 * 1024) + b"\\nafter long\\nno newline")
sys.stdout.write("Content-Type: text/plain\\n\\nok")
`,
    );
    const lines: string[] = [];
    const result = ran(await run(path, { onStderrLine: (line) => lines.push(line) }));
    expect(lines).toEqual([
      'one',
      'two',
      'three é',
      `${'L'.repeat(64 * 1024)} ... (line cut at 64 KiB)`,
      'after long',
      'no newline',
    ]);
    expect(result.stderrTail.at(-1)).toBe('no newline');
    expect(cgiOutcome(result).kind).toBe('document');
  });

  it('names a script killed by a signal', async () => {
    const path = script('crash.sh', '#!/bin/sh\nkill -SEGV $$\n');
    expect(cgiOutcome(await run(path))).toMatchObject({
      kind: 'failed',
      reason: expect.stringMatching(/^the script was killed by SIGSEGV; it wrote nothing to stderr/),
    });
  });

  it('runs a script without a #! line under /bin/sh', async () => {
    const path = script('bare', 'printf "Content-Type: text/plain\\n\\nbare"\n');
    expect(document(cgiOutcome(await run(path))).body.toString()).toBe('bare');
  });

  it.each([
    ['a missing script', () => join(dir, 'nope.sh'), 'ENOENT', /^the script .*nope\.sh does not exist$/],
    [
      'a script that is not executable',
      () => script('noexec.sh', '#!/bin/sh\necho\n', 0o644),
      'EACCES',
      /is not executable: chmod \+x .*noexec\.sh$/,
    ],
    [
      'a missing interpreter',
      () => script('badinterp.sh', '#!/no/such/interpreter -w\necho\n'),
      'ENOENT',
      /the interpreter named in the first line of .*\("#!\/no\/such\/interpreter -w"\) does not exist/,
    ],
    [
      'Windows line ends',
      () => script('crlf.sh', '#!/bin/sh\r\necho\r\n'),
      'ENOENT',
      /has Windows \(CRLF\) line ends.*dos2unix/,
    ],
  ])('explains %s', async (_, makePath, code, message) => {
    const result = await run(makePath());
    expect(result).toMatchObject({ kind: 'spawn-failed', code, message: expect.stringMatching(message) });
    expect(cgiOutcome(result)).toMatchObject({ kind: 'failed', code: 'HANDLER_FAILED' });
  });

  it('turns an environment value no process can hold into a spawn failure', async () => {
    const path = script('ok.sh', '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n"\n');
    const result = await runCgiScript({ scriptPath: path, env: { BAD: 'a\0b' } });
    expect(result).toMatchObject({ kind: 'spawn-failed', code: 'ERR_INVALID_ARG_VALUE' });
  });
});
