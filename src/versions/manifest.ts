/**
 * The deploy manifest (SPEC S11, docs/serve.md "The deploy protocol"): every file of a
 * service as `{ path, sha256, size, mode }`. `buildManifest` makes it on the deploying side
 * from the same walk `hangar validate` counts (src/config/file-limits.ts); `checkManifest`
 * re-checks one the platform received, because a manifest is client input and names the
 * paths the platform will write files to.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { mapLimited } from '../config/file-limits.js';
import {
  type ConfigIssue,
  DEFAULT_FILE_LIMITS,
  type FileLimits,
  formatIssue,
  formatSize,
  NEVER_DEPLOYED,
  walkAppFiles,
} from '../config/index.js';
import { HangarError } from '../shared/errors.js';

/** One file of a version, named by its path relative to the service directory. */
export interface ManifestFile {
  /** POSIX, relative, normalised: `static/app.css`. */
  path: string;
  /** SHA-256 of the bytes, 64 lowercase hex digits: the blob's name. */
  sha256: string;
  size: number;
  /** 0o644, or 0o755 when any execute bit was set (as git keeps modes: CGI scripts need it). */
  mode: number;
}

export interface Manifest {
  /** Sorted by path. */
  files: ManifestFile[];
  bytes: number;
}

export interface BuildManifestOptions {
  /** app.yaml's `skip_files`, compiled (`AppConfig.skipFiles`). */
  skipFiles: readonly RegExp[];
  /** The platform's data dir; left out when it lies inside the service directory (S11). */
  dataDir?: string;
  limits?: FileLimits;
}

export const MODE_FILE = 0o644;
export const MODE_EXECUTABLE = 0o755;

// Files hashed at once: enough to overlap reads with hashing, few enough for small machines.
const HASH_CONCURRENCY = 8;

/** The app breaks a deploy limit (S3), or a manifest is malformed; carries every problem. */
export class ManifestError extends HangarError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], status?: number) {
    super('FILE_LIMITS', issues.map((issue) => formatIssue(issue)).join('\n'), { status });
    this.name = 'ManifestError';
    this.issues = issues;
  }
}

/**
 * Walks a service directory as `hangar validate` does (skip_files, symlinks, S3 limits) and
 * hashes every file with a streaming SHA-256. `node_modules/`, `.git/` and the data dir are
 * always left out. Throws `ManifestError` listing every limit broken, before hashing anything.
 *
 * @example
 * const { files, bytes } = await buildManifest(app.dir, { skipFiles: app.skipFiles });
 */
export async function buildManifest(appDir: string, options: BuildManifestOptions): Promise<Manifest> {
  const dataRel = await dataDirInside(appDir, options.dataDir);
  const walk = await walkAppFiles(appDir, options.skipFiles, {
    limits: options.limits,
    exclude: (path, name) => NEVER_DEPLOYED.has(name) || path === dataRel,
  });
  if (walk.issues.length > 0) throw new ManifestError(walk.issues);

  const files = await mapLimited(walk.files, HASH_CONCURRENCY, async (file): Promise<ManifestFile> => {
    const { sha256, size } = await hashFile(file.source, file.path);
    return { path: file.path, sha256, size, mode: file.mode & 0o111 ? MODE_EXECUTABLE : MODE_FILE };
  });
  // The platform runs the same check; failing here names the problem before anything is sent
  // (e.g. a file name with a backslash, or one that grew past the limit since the walk).
  const issues = checkManifest(files, options.limits);
  if (issues.length > 0) throw new ManifestError(issues);
  // Sizes as hashed, not as stat saw them: the hash is what the platform will check.
  return { files, bytes: files.reduce((sum, file) => sum + file.size, 0) };
}

/** The data dir's path relative to the app dir (POSIX) when it lies strictly inside it. */
async function dataDirInside(appDir: string, dataDir: string | undefined): Promise<string | undefined> {
  if (dataDir === undefined) return undefined;
  // Real paths on both sides: the walk runs over the app dir's real path.
  const root = await realpath(resolve(appDir));
  const data = await realpath(resolve(dataDir)).catch(() => undefined);
  if (data === undefined) return undefined;
  const rel = relative(root, data);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

async function hashFile(source: string, path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(source) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
  } catch (err) {
    throw new HangarError(
      'FILE_LIMITS',
      `${path} could not be read while hashing it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix its permissions, or add it to skip_files`,
    );
  }
  return { sha256: hash.digest('hex'), size };
}

const SHA256 = /^[0-9a-f]{64}$/;
// Control characters break logs and terminals; a backslash is a separator on Windows.
const BAD_PATH_CHAR = /[\u0000-\u001f\u007f\\]/;
const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;
// Past this many, more issues only make the answer longer.
const MAX_ISSUES = 50;

/**
 * Checks a manifest the platform received (never trust the client): a list of
 * `{ path, sha256, size, mode }` with relative, normalised POSIX paths inside the service dir
 * (no `..`, no absolute path, no duplicates, no file where another needs a directory, nothing
 * under `node_modules/` or `.git/`), 64-lowercase-hex hashes, sizes within the per-file limit,
 * modes 0o644/0o755, and the S3 counts (files in total, per directory). Returns every problem
 * (at most 50 and a count of the rest); empty means the manifest is sound.
 *
 * @example
 * const issues = checkManifest(body.manifest);
 * if (issues.length > 0) throw new ManifestError(issues, 400);
 */
export function checkManifest(manifest: unknown, limits: FileLimits = DEFAULT_FILE_LIMITS): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // The location goes in `file` so that formatIssue prints `manifest[3].path: ...`.
  const add = (where: string, message: string, fix: string) => {
    issues.push({ file: `manifest${where}`, line: 0, column: 0, field: '', message, fix });
  };
  if (!Array.isArray(manifest)) {
    add('', `must be a list of files, not ${describe(manifest)}`, 'send [{ path, sha256, size, mode }, …]');
    return issues;
  }
  if (manifest.length > limits.maxFiles) {
    add(
      '',
      `lists ${manifest.length.toLocaleString('en-US')} files; the deploy limit is ${limits.maxFiles.toLocaleString('en-US')}`,
      'add what need not be deployed to skip_files',
    );
  }

  const paths = new Set<string>();
  const perDir = new Map<string, number>();
  for (const [i, entry] of manifest.entries()) {
    const at = `[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      add(
        at,
        `must be an object { path, sha256, size, mode }, not ${describe(entry)}`,
        'send one object per file',
      );
      continue;
    }
    const { path, sha256, size, mode } = entry as Record<string, unknown>;
    const pathProblem = checkPath(path);
    if (pathProblem !== undefined)
      add(`${at}.path`, pathProblem, 'name files relative to the service directory, e.g. static/app.css');
    else if (paths.has(path as string))
      add(`${at}.path`, `${JSON.stringify(path)} is listed twice`, 'list each file once');
    else {
      paths.add(path as string);
      const dir = posix.dirname(path as string);
      perDir.set(dir, (perDir.get(dir) ?? 0) + 1);
    }
    if (typeof sha256 !== 'string' || !SHA256.test(sha256)) {
      add(
        `${at}.sha256`,
        `must be 64 lowercase hex digits, not ${describe(sha256)}`,
        "send the SHA-256 of the file's bytes",
      );
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      add(
        `${at}.size`,
        `must be a whole number of bytes, not ${describe(size)}`,
        "send the file's size in bytes",
      );
    } else if (size > limits.maxFileBytes) {
      add(
        `${at}.size`,
        `${describe(path)} is ${formatSize(size)} (${size.toLocaleString('en-US')} bytes); the deploy limit is ${formatSize(limits.maxFileBytes)} per file`,
        'split it, serve it from outside the app, or add it to skip_files',
      );
    }
    if (mode !== MODE_FILE && mode !== MODE_EXECUTABLE) {
      add(
        `${at}.mode`,
        `must be 420 (0o644) or 493 (0o755), not ${describe(mode)}`,
        'send 493 for executable files, else 420',
      );
    }
  }

  for (const [dir, count] of perDir) {
    if (count > limits.maxPerDir) {
      add(
        '',
        `directory ${dir === '.' ? '(the service directory)' : JSON.stringify(dir)} holds ${count.toLocaleString('en-US')} files; the deploy limit is ${limits.maxPerDir.toLocaleString('en-US')} per directory`,
        'spread the files over subdirectories, or add the ones not needed to skip_files',
      );
    }
  }
  // `a` as a file and `a/b`: the second cannot be written once the first is.
  for (const path of paths) {
    for (let cut = path.indexOf('/'); cut !== -1; cut = path.indexOf('/', cut + 1)) {
      const parent = path.slice(0, cut);
      if (paths.has(parent)) {
        add(
          '',
          `${JSON.stringify(parent)} is listed as a file and as the directory of ${JSON.stringify(path)}`,
          'list only one of them',
        );
        break;
      }
    }
  }

  if (issues.length > MAX_ISSUES) {
    const rest = issues.length - MAX_ISSUES;
    issues.length = MAX_ISSUES;
    add('', `and ${rest} more problem${rest === 1 ? '' : 's'}`, 'fix the ones above first');
  }
  return issues;
}

/** Why `path` cannot name a file inside the service directory, or undefined when it can. */
function checkPath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '')
    return `must be a non-empty relative path, not ${describe(path)}`;
  if (BAD_PATH_CHAR.test(path)) return `${JSON.stringify(path)} contains a control character or a backslash`;
  if (path.startsWith('/'))
    return `${JSON.stringify(path)} is absolute; paths are relative to the service directory`;
  const segments = path.split('/');
  if (segments.includes('..')) return `${JSON.stringify(path)} leaves the service directory ('..')`;
  if (posix.normalize(path) !== path || segments.includes('.') || path.endsWith('/')) {
    return `${JSON.stringify(path)} is not normalised (empty, '.' or trailing segments)`;
  }
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  if (segments.some((s) => Buffer.byteLength(s) > MAX_NAME_BYTES)) {
    return `${JSON.stringify(path)} has a name longer than ${MAX_NAME_BYTES} bytes`;
  }
  const skipped = segments.find((s) => NEVER_DEPLOYED.has(s));
  if (skipped !== undefined)
    return `${JSON.stringify(path)} is under ${skipped}/, which is never deployed (the build installs dependencies)`;
  return undefined;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  const shown = JSON.stringify(value) ?? String(value);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}
