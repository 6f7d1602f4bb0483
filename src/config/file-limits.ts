/**
 * The deploy file limits (SPEC S3): files in total, files per directory and bytes per file,
 * counted after `skip_files`. Checked by `hangar validate` and `hangar deploy`.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { formatSize } from './durations.js';
import type { ConfigIssue } from './issues.js';

/** The limits; App Engine's values are the defaults. */
export interface FileLimits {
  maxFiles: number;
  maxPerDir: number;
  maxFileBytes: number;
}

export const DEFAULT_FILE_LIMITS: Readonly<FileLimits> = Object.freeze({
  maxFiles: 10_000,
  maxPerDir: 1_000,
  maxFileBytes: 32 * 1024 * 1024,
});

/** What a deploy would upload, and every limit it breaks. */
export interface FileLimitsReport {
  files: number;
  bytes: number;
  issues: ConfigIssue[];
}

// Enough parallel stat calls to hide latency, few enough to stay clear of EMFILE.
const STAT_CONCURRENCY = 64;

/**
 * Walks `appDir` and checks the deploy limits. `skipFiles` are tested against each path
 * relative to the app dir in POSIX form; a directory is tested as `dir` and `dir/`, so the
 * default dot-file pattern skips `.git/` without walking it. Symlinks are never walked into; a link to
 * a file inside the app counts as that file, a link leading outside the app is ignored.
 *
 * @example
 * const { files, bytes, issues } = await checkFileLimits(app.dir, app.skipFiles);
 */
export async function checkFileLimits(
  appDir: string,
  skipFiles: readonly RegExp[],
  limits: FileLimits = DEFAULT_FILE_LIMITS,
): Promise<FileLimitsReport> {
  const shown = resolve(appDir);
  const root = await realpath(shown);
  const skipped = (path: string) => skipFiles.some((pattern) => pattern.test(path));
  const issues: ConfigIssue[] = [];
  const bigFiles: ConfigIssue[] = [];
  let files = 0;
  let bytes = 0;

  const pending = [''];
  while (pending.length > 0) {
    const dir = pending.pop() ?? '';
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, dir), { withFileTypes: true });
    } catch (err) {
      issues.push(
        fileIssue(
          join(shown, dir),
          `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          'fix its permissions, or add it to skip_files',
        ),
      );
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));

    const candidates: string[] = [];
    for (const entry of entries) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!skipped(path) && !skipped(`${path}/`)) pending.push(path);
      } else if ((entry.isFile() || entry.isSymbolicLink()) && !skipped(path)) {
        candidates.push(path);
      }
    }

    const sizes = await mapLimited(candidates, STAT_CONCURRENCY, (path) => fileSize(root, path));
    let here = 0;
    for (const [i, size] of sizes.entries()) {
      if (size === undefined) continue;
      here++;
      bytes += size;
      if (size > limits.maxFileBytes) {
        bigFiles.push(
          fileIssue(
            join(shown, candidates[i] ?? ''),
            `is ${formatSize(size)} (${count(size)} bytes); the deploy limit is ${formatSize(limits.maxFileBytes)} per file`,
            'split it, serve it from outside the app (e.g. object storage), or add it to skip_files',
          ),
        );
      }
    }
    files += here;
    if (here > limits.maxPerDir) {
      issues.push(
        fileIssue(
          join(shown, dir),
          `directory holds ${count(here)} files; the deploy limit is ${count(limits.maxPerDir)} per directory`,
          'spread the files over subdirectories, or add the ones not needed to skip_files',
        ),
      );
    }
  }

  if (files > limits.maxFiles) {
    issues.unshift(
      fileIssue(
        shown,
        `the app has ${count(files)} files after skip_files; the deploy limit is ${count(limits.maxFiles)}`,
        'add what need not be deployed (tests, build inputs, caches) to skip_files, or remove it',
      ),
    );
  }
  bigFiles.sort((a, b) => a.file.localeCompare(b.file));
  return { files, bytes, issues: [...issues, ...bigFiles] };
}

/** Size of a regular file (following a symlink only if it stays inside `root`), else undefined. */
async function fileSize(root: string, path: string): Promise<number | undefined> {
  const absolute = join(root, path);
  try {
    const target = await realpath(absolute);
    const rel = relative(root, target);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
    const info = await stat(target);
    return info.isFile() ? info.size : undefined;
  } catch {
    // Dangling links and files removed during the walk are not deployed either.
    return undefined;
  }
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function fileIssue(file: string, message: string, fix: string): ConfigIssue {
  return { file, line: 0, column: 0, field: '', message, fix };
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
