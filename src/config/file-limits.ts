/**
 * The deploy file limits (SPEC S3): files in total, files per directory and bytes per file,
 * counted after `skip_files`. Checked by `hangar validate` and `hangar deploy`, over one walk
 * (`walkAppFiles`) so both see the same files.
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

/** One file a deploy would upload. */
export interface AppFile {
  /** Relative to the app dir, POSIX separators: the name it is deployed under. */
  path: string;
  /** Absolute real path of its bytes (a symlink resolved to its target inside the app). */
  source: string;
  size: number;
  /** The target's permission bits. */
  mode: number;
}

/** Every file a deploy would upload (sorted by path), their bytes, and every limit broken. */
export interface AppFilesWalk {
  files: AppFile[];
  bytes: number;
  issues: ConfigIssue[];
}

export interface WalkOptions {
  limits?: FileLimits;
  /**
   * Paths left out whatever `skip_files` says (deploy's `node_modules/`, `.git/`, data dir,
   * SPEC S11); called with the relative POSIX path and the entry's name, directories first.
   */
  exclude?: (path: string, name: string) => boolean;
}

/**
 * Directory names never deployed, at any depth (S11): the build installs dependencies itself,
 * and history is not the app. `hangar validate` leaves them out too, so it counts what a deploy
 * would send (an npm app's node_modules easily holds a directory of over 1,000 files).
 */
export const NEVER_DEPLOYED = new Set(['node_modules', '.git']);

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
  const walk = await walkAppFiles(appDir, skipFiles, {
    limits,
    exclude: (_, name) => NEVER_DEPLOYED.has(name),
  });
  return { files: walk.files.length, bytes: walk.bytes, issues: walk.issues };
}

/**
 * The walk behind `checkFileLimits` (validate) and `buildManifest` (deploy), so both count
 * the same files under the same rules; it also hands back each file found.
 */
export async function walkAppFiles(
  appDir: string,
  skipFiles: readonly RegExp[],
  options: WalkOptions = {},
): Promise<AppFilesWalk> {
  const limits = options.limits ?? DEFAULT_FILE_LIMITS;
  const exclude = options.exclude ?? (() => false);
  const shown = resolve(appDir);
  const root = await realpath(shown);
  const skipped = (path: string) => skipFiles.some((pattern) => pattern.test(path));
  const issues: ConfigIssue[] = [];
  const bigFiles: ConfigIssue[] = [];
  const files: AppFile[] = [];
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
      if (exclude(path, entry.name)) continue;
      if (entry.isDirectory()) {
        if (!skipped(path) && !skipped(`${path}/`)) pending.push(path);
      } else if ((entry.isFile() || entry.isSymbolicLink()) && !skipped(path)) {
        candidates.push(path);
      }
    }

    const found = await mapLimited(candidates, STAT_CONCURRENCY, (path) => fileInfo(root, path));
    let here = 0;
    for (const [i, info] of found.entries()) {
      if (info === undefined) continue;
      const path = candidates[i] ?? '';
      here++;
      bytes += info.size;
      files.push({ path, ...info });
      if (info.size > limits.maxFileBytes) {
        bigFiles.push(
          fileIssue(
            join(shown, path),
            `is ${formatSize(info.size)} (${count(info.size)} bytes); the deploy limit is ${formatSize(limits.maxFileBytes)} per file`,
            'split it, serve it from outside the app (e.g. object storage), or add it to skip_files',
          ),
        );
      }
    }
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

  if (files.length > limits.maxFiles) {
    issues.unshift(
      fileIssue(
        shown,
        `the app has ${count(files.length)} files after skip_files; the deploy limit is ${count(limits.maxFiles)}`,
        'add what need not be deployed (tests, build inputs, caches) to skip_files, or remove it',
      ),
    );
  }
  bigFiles.sort((a, b) => a.file.localeCompare(b.file));
  // The stack walk visits directories in no useful order; a manifest must not depend on it.
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, bytes, issues: [...issues, ...bigFiles] };
}

/**
 * A regular file's real path, size and mode (following a symlink only if it stays inside
 * `root`), else undefined.
 */
async function fileInfo(
  root: string,
  path: string,
): Promise<{ source: string; size: number; mode: number } | undefined> {
  const absolute = join(root, path);
  try {
    const target = await realpath(absolute);
    const rel = relative(root, target);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
    const info = await stat(target);
    return info.isFile() ? { source: target, size: info.size, mode: info.mode & 0o7777 } : undefined;
  } catch {
    // Dangling links and files removed during the walk are not deployed either.
    return undefined;
  }
}

/** `items.map(fn)` with at most `limit` calls of `fn` in flight; results in `items`' order. */
export async function mapLimited<T, R>(
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
