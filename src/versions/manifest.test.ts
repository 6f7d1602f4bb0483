import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSkipPattern, DEFAULT_SKIP_FILES } from '../config/app-fields.js';
import { formatIssue } from '../config/issues.js';
import { buildManifest, checkManifest, ManifestError, type ManifestFile } from './manifest.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hangar-manifest-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const skip = (...sources: string[]) => sources.map(compileSkipPattern);
const defaults = skip(...DEFAULT_SKIP_FILES);
const sha = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

async function makeApp(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

describe('buildManifest', () => {
  it('lists every deployed file with its hash, size and mode, sorted by path', async () => {
    const big = randomBytes(1024 * 1024 + 17); // several read chunks: the hash must be streamed right
    const app = await makeApp('basic', {
      'app.yaml': 'runtime: nodejs22\n',
      'main.ts': 'export const app = () => new Response("hi");\n',
      'cgi/run.sh': '#!/bin/sh\necho ok\n',
      'static/big.bin': big,
      'static/empty.txt': '',
    });
    await chmod(join(app, 'cgi/run.sh'), 0o750);

    const manifest = await buildManifest(app, { skipFiles: defaults });

    expect(manifest.files).toEqual([
      { path: 'app.yaml', sha256: sha('runtime: nodejs22\n'), size: 18, mode: 0o644 },
      { path: 'cgi/run.sh', sha256: sha('#!/bin/sh\necho ok\n'), size: 18, mode: 0o755 },
      {
        path: 'main.ts',
        sha256: sha('export const app = () => new Response("hi");\n'),
        size: 45,
        mode: 0o644,
      },
      { path: 'static/big.bin', sha256: sha(big), size: big.length, mode: 0o644 },
      { path: 'static/empty.txt', sha256: sha(''), size: 0, mode: 0o644 },
    ]);
    expect(manifest.bytes).toBe(18 + 18 + 45 + big.length);
  });

  it('applies skip_files, and always leaves out node_modules/, .git/ and the data dir', async () => {
    const app = await makeApp('skips', {
      'app.yaml': 'runtime: nodejs22\n',
      'main.ts': 'x',
      'main.test.ts': 'x',
      'node_modules/dep/index.js': 'x',
      'lib/node_modules/nested/index.js': 'x',
      '.git/HEAD': 'ref: refs/heads/main\n',
      'sub/.git': 'gitdir: ../.git/modules/sub\n',
      'hangar-data/hangar.db': 'x',
      'hangar-data/admin-token': 'secret',
      '.env': 'A=1\n',
    });
    // No skip_files at all: what is left out then is what S11 always leaves out.
    const bare = await buildManifest(app, { skipFiles: [], dataDir: join(app, 'hangar-data') });
    expect(bare.files.map((f) => f.path)).toEqual(['.env', 'app.yaml', 'main.test.ts', 'main.ts']);

    const skipping = await buildManifest(app, {
      skipFiles: [...defaults, ...skip('^(.*/)?.*\\.test\\.ts$')],
      dataDir: join(app, 'hangar-data'),
    });
    expect(skipping.files.map((f) => f.path)).toEqual(['app.yaml', 'main.ts']);

    // A data dir elsewhere leaves a folder of the same name alone.
    const elsewhere = await buildManifest(app, { skipFiles: [], dataDir: join(root, 'no-such-data-dir') });
    expect(elsewhere.files.map((f) => f.path)).toContain('hangar-data/admin-token');
  });

  it('deploys a link to a file inside the app as that file, and ignores links leaving it', async () => {
    const outside = await makeApp('outside', { 'secret.txt': 'outside' });
    const app = await makeApp('links', { 'app.yaml': 'runtime: nodejs22\n', 'real.txt': 'inside' });
    await symlink(join(app, 'real.txt'), join(app, 'alias.txt'));
    await symlink(join(outside, 'secret.txt'), join(app, 'leak.txt'));
    await symlink(outside, join(app, 'leak-dir'));

    const manifest = await buildManifest(app, { skipFiles: defaults });

    expect(manifest.files).toEqual([
      { path: 'alias.txt', sha256: sha('inside'), size: 6, mode: 0o644 },
      { path: 'app.yaml', sha256: sha('runtime: nodejs22\n'), size: 18, mode: 0o644 },
      { path: 'real.txt', sha256: sha('inside'), size: 6, mode: 0o644 },
    ]);
  });

  it('throws every broken limit, as validate words them, before hashing', async () => {
    const app = await makeApp('limits', { 'a/1': 'x', 'a/2': 'x', 'a/3': 'x', 'b/big': '' });
    await truncate(join(app, 'b/big'), 33);
    const failure = await buildManifest(app, {
      skipFiles: [],
      limits: { maxFiles: 3, maxPerDir: 2, maxFileBytes: 32 },
    }).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(ManifestError);
    const issues = (failure as ManifestError).issues;
    expect(issues.map((i) => i.message)).toEqual([
      'the app has 4 files after skip_files; the deploy limit is 3',
      'directory holds 3 files; the deploy limit is 2 per directory',
      'is 33 B (33 bytes); the deploy limit is 32 B per file',
    ]);
    expect((failure as ManifestError).code).toBe('HANGAR_E_FILE_LIMITS');
    expect(formatIssue(issues[2]!, app)).toMatch(/^b\/big: is 33 B .* Fix: /);
  });

  it('passes at exactly the limits', async () => {
    const app = await makeApp('at-limits', { 'a/1': 'x', 'a/2': 'x', 'b/f': 'y'.repeat(32) });
    const manifest = await buildManifest(app, {
      skipFiles: [],
      limits: { maxFiles: 3, maxPerDir: 2, maxFileBytes: 32 },
    });
    expect(manifest.files).toHaveLength(3);
  });
});

describe('checkManifest', () => {
  const file = (path: string, over: Partial<ManifestFile> = {}): ManifestFile => ({
    path,
    sha256: sha(path),
    size: 1,
    mode: 0o644,
    ...over,
  });
  const messages = (manifest: unknown, limits?: Parameters<typeof checkManifest>[1]) =>
    checkManifest(manifest, limits).map((i) => formatIssue(i));

  it('accepts a sound manifest, including what buildManifest makes', async () => {
    expect(
      checkManifest([file('app.yaml'), file('static/css/a.css'), file('bin/run', { mode: 0o755 })]),
    ).toEqual([]);
    expect(checkManifest([])).toEqual([]);
    const app = await makeApp('round-trip', { 'app.yaml': 'runtime: nodejs22\n', 'x/y/z.txt': 'z' });
    expect(checkManifest((await buildManifest(app, { skipFiles: defaults })).files)).toEqual([]);
  });

  it.each([
    ['../x', /leaves the service directory/],
    ['a/../../x', /leaves the service directory/],
    ['a/..', /leaves the service directory/],
    ['/etc/passwd', /is absolute/],
    ['./a', /not normalised/],
    ['a//b', /not normalised/],
    ['a/', /not normalised/],
    ['a/./b', /not normalised/],
    ['.', /not normalised/],
    ['', /must be a non-empty relative path/],
    ['a\\..\\..\\x', /backslash/],
    ['a\nb', /control character/],
    ['a\u0000b', /control character/],
    ['node_modules/x/index.js', /under node_modules\/, which is never deployed/],
    ['lib/.git/config', /under \.git\//],
    [`${'n'.repeat(256)}`, /name longer than 255 bytes/],
  ])('refuses the path %j', (path, expected) => {
    const found = messages([file('ok.txt'), file(path)]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^manifest\[1\]\.path: /);
    expect(found[0]).toMatch(expected);
  });

  it('refuses paths that are not strings', () => {
    expect(messages([{ ...file('x'), path: 7 }])).toEqual([
      expect.stringMatching(/^manifest\[0\]\.path: must be a non-empty relative path, not 7\./),
    ]);
  });

  it('refuses a path listed twice, and a file where another needs a directory', () => {
    expect(messages([file('a.txt'), file('b.txt'), file('a.txt', { sha256: sha('other') })])).toEqual([
      expect.stringMatching(/^manifest\[2\]\.path: "a\.txt" is listed twice\./),
    ]);
    expect(messages([file('lib'), file('lib/x.js')])).toEqual([
      expect.stringMatching(/"lib" is listed as a file and as the directory of "lib\/x\.js"/),
    ]);
  });

  it.each([
    ['uppercase', sha('x').toUpperCase()],
    ['63 digits', sha('x').slice(1)],
    ['65 digits', `${sha('x')}0`],
    ['not hex', 'g'.repeat(64)],
    ['a number', 42],
    ['missing', undefined],
  ])('refuses a sha256 that is %s', (_name, sha256) => {
    expect(messages([{ ...file('x'), sha256 }])).toEqual([
      expect.stringMatching(/^manifest\[0\]\.sha256: must be 64 lowercase hex digits/),
    ]);
  });

  it.each([
    [-1, /must be a whole number of bytes/],
    [1.5, /must be a whole number of bytes/],
    ['10', /must be a whole number of bytes/],
    [Number.MAX_SAFE_INTEGER + 1, /must be a whole number of bytes/],
    [32 * 1024 * 1024 + 1, /"x" is 32\.0 MiB \(33,554,433 bytes\); the deploy limit is 32\.0 MiB per file/],
  ])('refuses the size %j', (size, expected) => {
    const found = messages([{ ...file('x'), size }]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^manifest\[0\]\.size: /);
    expect(found[0]).toMatch(expected);
  });

  it('accepts a file of exactly 32 MiB', () => {
    expect(checkManifest([file('x', { size: 32 * 1024 * 1024 })])).toEqual([]);
  });

  it.each([0o777, 0o4755, '420', 0])('refuses the mode %j', (mode) => {
    expect(messages([{ ...file('x'), mode }])).toEqual([
      expect.stringMatching(/^manifest\[0\]\.mode: must be 420 \(0o644\) or 493 \(0o755\)/),
    ]);
  });

  it('refuses what is not a list of objects', () => {
    expect(messages({ files: [] })).toEqual([
      expect.stringMatching(/^manifest: must be a list of files, not an object/),
    ]);
    expect(messages([null, 'app.yaml'])).toEqual([
      expect.stringMatching(/^manifest\[0\]: must be an object/),
      expect.stringMatching(/^manifest\[1\]: must be an object .* not "app\.yaml"/),
    ]);
  });

  it('checks the counts: files in total and per directory', () => {
    const limits = { maxFiles: 3, maxPerDir: 2, maxFileBytes: 100 };
    expect(messages([file('a/1'), file('a/2'), file('b/1')], limits)).toEqual([]);
    expect(messages([file('a/1'), file('a/2'), file('a/3'), file('4')], limits)).toEqual([
      expect.stringMatching(/^manifest: lists 4 files; the deploy limit is 3\./),
      expect.stringMatching(/^manifest: directory "a" holds 3 files; the deploy limit is 2 per directory\./),
    ]);
    expect(messages([file('1'), file('2'), file('3')], limits)).toEqual([
      expect.stringMatching(/directory \(the service directory\) holds 3 files/),
    ]);
  });

  it('stops listing after 50 problems', () => {
    const hostile = Array.from({ length: 200 }, (_, i) => file(`../${i}`));
    const found = checkManifest(hostile);
    expect(found).toHaveLength(51);
    expect(found[50]?.message).toBe('and 150 more problems');
  });
});
