import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(repo, 'dist/cli/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `hangar` with `cwd` set, so paths print relative to it. */
function hangar(args: string[], cwd: string): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

async function makeApp(root: string, name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

const MAIN = 'export const app = () => new Response("hello");\n';

describe('hangar validate', () => {
  let root: string;

  beforeAll(async () => {
    // `npm test` builds dist/ first (pretest); a rebuild here would race other e2e files using it.
    expect(existsSync(cli)).toBe(true);
    expect(existsSync(join(repo, 'dist/cli/validate.js'))).toBe(true);
    root = await mkdtemp(join(tmpdir(), 'hangar-validate-e2e-'));
  });

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('prints every error with file:line:col and exits 1, without a stack trace', async () => {
    const app = await makeApp(root, 'broken', {
      'main.ts': MAIN,
      'app.yaml': [
        'runtime: nodejs22',
        'version: Latest_Build',
        'handlers:',
        '- url: ^/api/.*',
        '  script: main.app',
        '- url: /.*',
        '  script: missing.app',
        '',
      ].join('\n'),
    });
    const run = await hangar(['validate', app], app);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^app\.yaml:2:1 version: 'Latest_Build' is not a valid version name.* Fix: /),
      expect.stringMatching(/^app\.yaml:4:3 handlers\[0\]\.url: must not start with '\^'\. Fix: /),
      expect.stringMatching(
        /^app\.yaml:7:3 handlers\[1\]\.script: no module file for 'missing\.app': tried missing\.ts, .* Fix: /,
      ),
      'hangar validate: 3 problems found',
    ]);
    expect(run.stderr).not.toContain('    at ');
  });

  it('refuses threadsafe: true with a CGI handler, with the SPEC’s message and its line (S3)', async () => {
    const app = await makeApp(root, 'cgi-threadsafe', {
      'cgi-bin/hello.sh': '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\nhi\\n"\n',
      'app.yaml': [
        'runtime: nodejs22',
        'threadsafe: true',
        'handlers:',
        '- url: /.*',
        '  script: cgi-bin/hello.sh',
        '',
      ].join('\n'),
    });
    const run = await hangar(['validate', app], app);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^app\.yaml:2:1 threadsafe: threadsafe cannot be enabled with CGI handler: cgi-bin\/hello\.sh\. Fix: /m,
    );
  });

  it("counts what a deploy sends: an npm app's node_modules (a directory of 1,001 files) is left out", async () => {
    const files: Record<string, string> = {
      'main.ts': MAIN,
      'app.yaml': ['runtime: nodejs22', 'handlers:', '- url: /.*', '  script: main.app', ''].join('\n'),
    };
    for (let i = 0; i < 1001; i++) files[`node_modules/date-fns/f${i}.js`] = '';
    const app = await makeApp(root, 'npm-app', files);
    const run = await hangar(['validate', app], app);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/, 1 handlers?, 2 files \(\d+ B\) within the deploy limits\n$/);
  });

  it('prints one summary line and exits 0 for a valid app', async () => {
    const app = await makeApp(root, 'good', {
      'main.ts': MAIN,
      'static/site.css': 'body { color: red }\n',
      '.git/HEAD': 'ref: refs/heads/main\n',
      'app.yaml': [
        'runtime: nodejs22',
        'handlers:',
        '- url: /static',
        '  static_dir: static',
        '- url: /.*',
        '  script: main.app',
        '',
      ].join('\n'),
    });
    const run = await hangar(['validate', app], app);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^app\.yaml: OK — service default, version \(unset\), 2 handlers, 3 files \(\d+ B\) within the deploy limits\n$/,
    );
  });

  it('also validates a platform config given with --config', async () => {
    const app = await makeApp(root, 'with-config', {
      'main.ts': MAIN,
      'app.yaml': 'runtime: nodejs22\nhandlers:\n- url: /.*\n  script: main.app\n',
      'hangar.config.yaml': 'limits:\n  request_deadline: 2 minutes\n',
    });
    const run = await hangar(['validate', app, '--config', join(app, 'hangar.config.yaml')], app);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^hangar\.config\.yaml:2:3 limits\.request_deadline: '2 minutes' is not a duration/m,
    );
    expect(run.stderr).not.toContain('    at ');
  });

  it('reports deploy file limits', async () => {
    const app = await makeApp(root, 'too-big', {
      'main.ts': MAIN,
      'app.yaml': 'runtime: nodejs22\nhandlers:\n- url: /.*\n  script: main.app\n',
      'media/movie.mp4': '',
    });
    await truncate(join(app, 'media/movie.mp4'), 32 * 1024 * 1024 + 1);
    const run = await hangar(['validate', '.'], app);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^media\/movie\.mp4: is 32\.0 MiB \(33,554,433 bytes\); the deploy limit is 32\.0 MiB per file\. Fix: /m,
    );
  });

  it('says where it looked when there is no app.yaml', async () => {
    const empty = await makeApp(root, 'empty', { 'README.md': 'nothing here\n' });
    const run = await hangar(['validate', empty], root);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no app.yaml in ${empty}; pass an app directory containing app.yaml`);
    expect(run.stderr).not.toContain('    at ');
  });
});
