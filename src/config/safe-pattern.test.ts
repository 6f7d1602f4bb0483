import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../test/helpers/dev-server.js';
import { loadAppConfig } from './app-config.js';
import { checkStaticDirUrl, fullMatch, uploadField, urlField } from './handler-fields.js';
import { type ConfigIssue, formatIssue } from './issues.js';
import { patternProblem } from './safe-pattern.js';

/** The check as `url:` gets it: the url inside `^(?:...)$`. */
const urlProblem = (url: string) => patternProblem({ text: url, source: `^(?:${url})$`, offset: 4 });

describe('patternProblem refuses what a path can make slow, naming the construct', () => {
  it.each([
    // The finding (issue 14): 30 characters of 'a' held the front end for seconds.
    ['/(a+)+b', "'(a+)+' (characters 2-6) repeats 'a+'", 'exponential'],
    ['/(a|a)*', "'(a|a)*' (characters 2-7) repeats a part that can match the same text", 'exponential'],
    ['/(.*a){2,}', "'(.*a){2,}' (characters 2-10) repeats '.*'", 'exponential'],
    ['/(a*)*b', "'(a*)*' (characters 2-6) repeats 'a*'", 'exponential'],
    ['/(x+x+)+y', "'(x+x+)+' (characters 2-8) repeats 'x+'", 'exponential'],
    ['/(\\w+\\s?)*$', "'(\\w+\\s?)*' (characters 2-10) repeats '\\w+'", 'exponential'],
    ['/([a-z]+/?)+\\.html', "'([a-z]+/?)+' (characters 2-12) repeats '[a-z]+'", 'exponential'],
    [
      '/(.*)/(.*)\\.js',
      "'.*' (characters 3-4) and '.*' (characters 8-9) can match the same text",
      'quadratic',
    ],
    ['/.*.*x', "'.*' (characters 2-3) and '.*' (characters 4-5)", 'quadratic'],
    ['/[a-z]+[0-9a-z]+x', "'[a-z]+' (characters 2-7) and '[0-9a-z]+' (characters 8-16)", 'quadratic'],
    ['/a{1,500}a{1,500}b', "'a{1,500}' (characters 2-9) and 'a{1,500}' (characters 10-17)", 'quadratic'],
    // Finite, but 16 × 16 ways to split: counted repeats are checked as loops.
    ['/(?:.{0,16}){0,16}', "'(?:.{0,16}){0,16}' (characters 2-18) repeats '.{0,16}'", 'exponential'],
    ['/(a)\\1', "'\\1' (characters 5-6) is a backreference", 'backreference'],
    ['/(?<id>\\d+)/\\k<id>', "'\\k<id>' (characters 13-18) is a backreference", 'backreference'],
    ['/a(?=b).*', "'(?=b)' (characters 3-7) is a lookahead", 'lookahead'],
    ['/a(?!b).*', "'(?!b)' (characters 3-7) is a negative lookahead", 'lookahead'],
    ['/.*(?<=\\.js)', "'(?<=\\.js)' (characters 4-12) is a lookbehind", 'lookbehind'],
  ])('%s', (url, construct, kind) => {
    const found = urlProblem(url);
    expect(found?.message).toContain(construct);
    expect(found?.message).toContain(kind);
    expect(found?.fix).toMatch(/^(write|let|remove)/);
  });

  it('gives a path that shows the problem', () => {
    expect(urlProblem('/(a+)+b')?.message).toContain(
      "a path such as '/aaaaaaaaaaaaaaa…' that fails to match",
    );
    expect(urlProblem('/(.*)/(.*)\\.js')?.message).toContain("'/a/a/a/a/a/a/a…'");
  });

  it('refuses a pattern too large to check rather than guessing', () => {
    expect(urlProblem(`/${'[a-z]{64}'.repeat(8)}`)?.message).toContain('too large to check');
  });
});

// Patterns App Engine apps use, and the rewrites the fixes suggest: all linear, all kept.
const ACCEPTED = [
  '/.*',
  '/static/(.*)',
  '/api/v1/users/[0-9]+',
  '/(.*\\.(gif|png|jpg))$',
  '/images/(.*\\.(gif|png|jpg))',
  '/hono(/.*)?',
  '/(assets|files)',
  '/(.+)',
  '/item/([^/]+)/(.*)',
  '/([^/]+/)*[^/]+\\.html',
  '/(.*)/(.*)',
  '/(.*)/([^/]*)/([^/]*)',
  '/favicon\\.ico',
  '/_ah/.*',
  '/[a-f0-9]{32}',
  '/v[0-9]{1,3}/.*',
  '/(/[a-z]+)*',
  '/(a|ab)*c',
  '/(?:api|v2)/.*',
  '/.*\\.(css|js)',
  '/(.*)/([^/]*)\\.js',
  '/a+b',
  '/(?<year>\\d{4})/(?<slug>[\\w-]+)',
  '/(?:[^/]{1,16}/){1,16}x',
  '/[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}',
];

describe('patternProblem accepts', () => {
  it.each(ACCEPTED)('%s', (url) => {
    expect(urlProblem(url)).toBeUndefined();
  });

  it('a .* that ends the pattern: once it is reached, the match cannot fail on a path', () => {
    // The same pattern is refused for upload, whose input can hold a line break '.' stops at.
    expect(urlProblem('/(.*)/(.*)')).toBeUndefined();
    const upload = patternProblem({ text: '(.*)/(.*)', source: '^(?:(.*)/(.*))$', offset: 4, input: 'any' });
    expect(upload?.message).toContain('quadratic');
  });
});

/**
 * The slowest match of `pattern` over paths near the longest request line the front end takes
 * (max_header_bytes, 16 KiB) that make a backtracking matcher try hard: runs of one piece, then
 * a character that fails. Best of three tries per path, so that a busy machine does not count.
 * Runs in a worker, ended after `timeoutMs`: an exponential match would never return.
 */
function slowestHostileMatch(pattern: RegExp, timeoutMs: number): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const pattern = new RegExp(workerData.source);
    const pieces = ['a', '/', '.', 'a/', '/a', 'ab', 'a.', '1', 'aa/', '/.'];
    let slowest = 0;
    for (const start of ['', '/', '/a'])
      for (const piece of pieces)
        for (const end of ['', '!', '/', '.x', '/!']) {
          const path = start + piece.repeat(Math.ceil(16000 / piece.length)) + end;
          let best = Infinity;
          for (let i = 0; i < 3 && best > 5; i++) {
            const t = performance.now();
            pattern.exec(path);
            best = Math.min(best, performance.now() - t);
          }
          slowest = Math.max(slowest, best);
        }
    parentPort.postMessage(slowest);`;
  const worker = new Worker(code, { eval: true, workerData: { source: pattern.source } });
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => resolve(Number.POSITIVE_INFINITY), timeoutMs);
    worker.once('message', (ms: number) => resolve(ms));
    worker.once('error', reject);
    worker.once('exit', () => clearTimeout(timer));
  }).finally(() => worker.terminate());
}

describe('a hostile path against an accepted pattern', () => {
  it.each(ACCEPTED)('%s matches 16k-character hostile paths in well under 50 ms', async (url) => {
    // A linear match of 16k characters takes microseconds; a quadratic one hundreds of ms, an
    // exponential one forever (cut off here after 5 s).
    expect(await slowestHostileMatch(fullMatch(url), 5_000)).toBeLessThan(50);
  });
});

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hangar-safe-pattern-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function issuesOf(yaml: string): Promise<ConfigIssue[]> {
  const dir = await mkdtemp(join(root, 'app-'));
  const files = {
    'app.yaml': yaml,
    'main.ts': 'export const app = () => new Response("hi");\n',
    'static/a.css': '',
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  try {
    await loadAppConfig(dir);
  } catch (err) {
    expect(err).toMatchObject({ code: 'HANGAR_E_CONFIG_INVALID' });
    return [...(err as { issues: ConfigIssue[] }).issues];
  }
  return [];
}

describe('app.yaml (hangar validate, hangar dev)', () => {
  it("refuses the finding's url at file:line:column, with the construct and a fix", async () => {
    const issues = await issuesOf('runtime: nodejs22\nhandlers:\n- url: /(a+)+b\n  script: main.app\n');
    expect(issues).toHaveLength(1);
    expect(formatIssue(issues[0]!, root)).toMatch(
      /^app-\w+\/app\.yaml:3:3 handlers\[0\]\.url: '\(a\+\)\+' \(characters 2-6\) repeats 'a\+', which can already match the same text, .* exponential time\. Fix: write the repetition once/,
    );
  });

  it('checks a static_dir url with the file path it appends', async () => {
    const yaml = (kind: string) => `runtime: nodejs22\nhandlers:\n- url: /(.*)/(.*)\n  ${kind}\n`;
    expect(await issuesOf(yaml('script: main.app'))).toEqual([]);
    const [issue] = await issuesOf(yaml('static_dir: static'));
    expect(issue).toMatchObject({ field: 'handlers[0].url', line: 3 });
    expect(issue?.message).toContain("'.*' (characters 3-4) and '.*' (characters 8-9)");
  });

  it('checks upload, whose filled-in path can hold any character', async () => {
    const yaml = (upload: string) =>
      `runtime: nodejs22\nhandlers:\n- url: /(.*)\n  static_files: static/\\1\n  upload: ${upload}\n`;
    expect(await issuesOf(yaml('static/.*\\.(css|js)'))).toEqual([]);
    const [issue] = await issuesOf(yaml('static/(.*)/(.*)'));
    expect(issue).toMatchObject({ field: 'handlers[0].upload', line: 5 });
    expect(issue?.message).toContain('quadratic');
  });

  it('still accepts every url and upload of the test fixtures and examples', async () => {
    const dirs = [
      ...(await readdir(join(repoRoot, 'test/fixtures'))).map((d) => join(repoRoot, 'test/fixtures', d)),
      ...(await readdir(join(repoRoot, 'examples'))).map((d) => join(repoRoot, 'examples', d)),
    ];
    let checked = 0;
    for (const dir of dirs) {
      const text = await readFile(join(dir, 'app.yaml'), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const handlers = (parse(text) as { handlers?: Record<string, unknown>[] }).handlers ?? [];
      for (const h of handlers) {
        const where = `${dir}/app.yaml url ${String(h.url)}`;
        expect(urlField.safeParse(h.url).error?.issues, where).toBeUndefined();
        if (typeof h.static_dir === 'string')
          expect(() => checkStaticDirUrl(String(h.url)), where).not.toThrow();
        if (h.upload !== undefined)
          expect(uploadField.safeParse(h.upload).error?.issues, where).toBeUndefined();
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
