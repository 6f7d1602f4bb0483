import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSkipPattern, DEFAULT_SKIP_FILES } from './app-fields.js';
import { checkFileLimits } from './file-limits.js';
import { formatIssue } from './issues.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hangar-file-limits-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const skip = (...sources: string[]) => sources.map(compileSkipPattern);
const defaults = skip(...DEFAULT_SKIP_FILES);

/** Writes `count` one-byte files named by `name(i)` under `dir`, 64 at a time. */
async function writeFiles(dir: string, count: number, name: (i: number) => string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let start = 0; start < count; start += 64) {
    const batch = Array.from({ length: Math.min(64, count - start) }, (_, k) => start + k);
    await Promise.all(batch.map((i) => writeFile(join(dir, name(i)), 'x')));
  }
}

async function newApp(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('checkFileLimits', () => {
  it('counts files and bytes of a small app', async () => {
    const app = await newApp('small');
    await writeFile(join(app, 'app.yaml'), 'runtime: nodejs22\n');
    await writeFiles(join(app, 'static'), 3, (i) => `f${i}.txt`);
    const report = await checkFileLimits(app, defaults);
    expect(report).toEqual({ files: 4, bytes: 18 + 3, issues: [] });
  });

  describe('10,001 files in total', () => {
    let app: string;
    beforeAll(async () => {
      app = await newApp('total');
      // 10 directories of 1,000 (the per-directory limit, not over it) plus one more file.
      for (let d = 0; d < 10; d++) await writeFiles(join(app, `d${d}`), 1000, (i) => `f${i}`);
      await writeFile(join(app, 'app.yaml'), 'runtime: nodejs22\n');
    });

    it('fails the total limit only', async () => {
      const report = await checkFileLimits(app, defaults);
      expect(report.files).toBe(10_001);
      expect(report.issues).toHaveLength(1);
      expect(report.issues[0]).toMatchObject({
        file: app,
        line: 0,
        column: 0,
        message: 'the app has 10,001 files after skip_files; the deploy limit is 10,000',
      });
      expect(report.issues[0]?.fix).toContain('skip_files');
    });

    it('passes once skip_files leaves out a directory', async () => {
      const report = await checkFileLimits(app, skip('^d0/'));
      expect(report).toMatchObject({ files: 9_001, issues: [] });
    });
  });

  describe('1,001 files in one directory', () => {
    let app: string;
    beforeAll(async () => {
      app = await newApp('per-dir');
      await writeFiles(join(app, 'many'), 1001, (i) => (i === 0 ? 'notes.tmp' : `f${i}`));
    });

    it('fails the per-directory limit', async () => {
      const report = await checkFileLimits(app, defaults);
      expect(report.files).toBe(1001);
      expect(report.issues).toEqual([
        expect.objectContaining({
          file: join(app, 'many'),
          message: 'directory holds 1,001 files; the deploy limit is 1,000 per directory',
        }),
      ]);
    });

    it('passes once skip_files leaves out one of them', async () => {
      const report = await checkFileLimits(app, skip('^(.*/)?.*\\.tmp$'));
      expect(report).toMatchObject({ files: 1000, issues: [] });
    });
  });

  describe('a file of 32 MiB + 1 byte', () => {
    let app: string;
    beforeAll(async () => {
      app = await newApp('big');
      await mkdir(join(app, 'media'));
      // Sparse: the size is real for stat, the disk blocks are not written.
      await writeFile(join(app, 'media', 'video.bin'), '');
      await truncate(join(app, 'media', 'video.bin'), 32 * 1024 * 1024 + 1);
      await writeFile(join(app, 'media', 'exact.bin'), '');
      await truncate(join(app, 'media', 'exact.bin'), 32 * 1024 * 1024);
    });

    it('fails the per-file limit, naming the file and its size', async () => {
      const report = await checkFileLimits(app, defaults);
      expect(report.issues).toEqual([
        expect.objectContaining({
          file: join(app, 'media', 'video.bin'),
          message: 'is 32.0 MiB (33,554,433 bytes); the deploy limit is 32.0 MiB per file',
        }),
      ]);
      expect(formatIssue(report.issues[0]!, app)).toMatch(/^media\/video\.bin: is 32\.0 MiB .* Fix: /);
    });

    it('passes once skip_files leaves it out', async () => {
      const report = await checkFileLimits(app, skip('^media/video\\.bin$'));
      expect(report).toMatchObject({ files: 1, bytes: 32 * 1024 * 1024, issues: [] });
    });
  });

  it('skips directories by their dir/ path, and does not follow links out of the tree', async () => {
    const app = await newApp('links');
    const outside = await newApp('outside');
    await writeFiles(outside, 5, (i) => `o${i}`);
    await writeFiles(join(app, '.git', 'objects'), 5, (i) => `g${i}`);
    await writeFile(join(app, 'main.ts'), 'export {};\n');
    await writeFile(join(app, '.env'), 'A=1\n');
    await writeFile(join(app, 'backup~'), 'x');
    await symlink(outside, join(app, 'linked-dir'));
    await symlink(join(outside, 'o0'), join(app, 'linked-file'));
    await symlink(join(app, 'main.ts'), join(app, 'alias.ts'));
    await symlink(join(app, 'nowhere'), join(app, 'dangling'));

    const report = await checkFileLimits(app, defaults);
    // main.ts and the link to it; .git/, .env, backup~, and links leaving the app are not deployed.
    expect(report).toEqual({ files: 2, bytes: 22, issues: [] });

    // Without skip_files: .env and backup~ too, but never .git/ (nor node_modules/): a deploy never sends them.
    const noSkips = await checkFileLimits(app, []);
    expect(noSkips.files).toBe(2 + 2);
  });

  it('applies limits it is given', async () => {
    const app = await newApp('custom');
    await writeFiles(app, 3, (i) => `f${i}`);
    const report = await checkFileLimits(app, [], { maxFiles: 2, maxPerDir: 2, maxFileBytes: 0 });
    expect(report.issues.map((i) => i.message)).toEqual([
      'the app has 3 files after skip_files; the deploy limit is 2',
      'directory holds 3 files; the deploy limit is 2 per directory',
      'is 1 B (1 bytes); the deploy limit is 0 B per file',
      'is 1 B (1 bytes); the deploy limit is 0 B per file',
      'is 1 B (1 bytes); the deploy limit is 0 B per file',
    ]);
  });
});
