/**
 * A version's built tree (S16, docs/scale-out.md): every file and link the build left in the
 * version's directory, kept in the BlobStore, so a node that did not build the version runs
 * exactly what the deploying node built (its `npm ci`, its compiled TypeScript) without
 * building again. The listing itself is a blob too, and the version record names its hash.
 *
 * Left out: `cache/` (each node's own compile cache) and the version's `node_modules/hangar`
 * link to the platform's package, which points into this node's install and is made again where
 * the version runs (precompiled.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, resolve, sep } from 'node:path';
import { HangarError } from '../shared/errors.js';
import type { BlobStore } from './types.js';

/** One entry of a built tree: a file by its blob, a symbolic link, or an empty directory. */
export type TreeEntry =
  | { path: string; sha256: string; size: number; mode: number }
  | { path: string; link: string }
  | { path: string; dir: true };

/**
 * The largest file a built tree takes, and the most bytes in all: a blob is held in memory on
 * its way into PostgreSQL, so a build that leaves a huge file (an app's `gcp-build` can write
 * anything) must fail the deploy, not the platform. Larger than any package file we know of in
 * `node_modules` (native binaries run to tens of MiB).
 */
export const MAX_TREE_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_TREE_BYTES = 2 * 1024 * 1024 * 1024;

/** What the tree leaves out, relative to the version directory. */
const LEFT_OUT = new Set(['cache', 'node_modules/hangar']);

/**
 * Puts every file under `versionDir` into `blobs` (those it lacks) and then the listing;
 * resolves to the listing's SHA-256, for the version record.
 *
 * @example
 * record.tree = await storeTree('/data/versions/shop/default/v1.123', blobs);
 */
export async function storeTree(versionDir: string, blobs: BlobStore): Promise<string> {
  const entries: TreeEntry[] = [];
  await walk(versionDir, '', entries);
  const files = entries.filter((e): e is Extract<TreeEntry, { sha256: string }> => 'sha256' in e);
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > MAX_TREE_BYTES) {
    throw new HangarError(
      'BUILD_FAILED',
      `the build left ${total} bytes in ${files.length} files; to run on several nodes a version may have at most ${MAX_TREE_BYTES} (keep caches and downloads out of the app's directory)`,
    );
  }
  const missing = new Set(await blobs.missing(files.map((f) => f.sha256)));
  for (const file of files) {
    if (!missing.delete(file.sha256)) continue;
    await blobs.put(file.sha256, createReadStream(join(versionDir, ...file.path.split('/'))), file.size);
  }
  const listing = Buffer.from(JSON.stringify(entries));
  const sha256 = createHash('sha256').update(listing).digest('hex');
  await blobs.put(sha256, listing, listing.length);
  return sha256;
}

async function walk(root: string, relative: string, entries: TreeEntry[]): Promise<void> {
  const names = (await readdir(join(root, relative))).sort();
  if (names.length === 0 && relative !== '') entries.push({ path: relative, dir: true });
  for (const name of names) {
    const path = relative === '' ? name : `${relative}/${name}`;
    if (LEFT_OUT.has(path)) continue;
    const full = join(root, path);
    const stat = await lstat(full);
    if (stat.isSymbolicLink()) entries.push({ path, link: await readlink(full) });
    else if (stat.isDirectory()) await walk(root, path, entries);
    else if (stat.isFile()) {
      if (stat.size > MAX_TREE_FILE_BYTES) {
        throw new HangarError(
          'BUILD_FAILED',
          `the build left ${path} of ${stat.size} bytes; to run on several nodes each file of a version may be at most ${MAX_TREE_FILE_BYTES} bytes`,
        );
      }
      entries.push({ path, sha256: await hashFile(full), size: stat.size, mode: stat.mode & 0o777 });
    }
    // Sockets, FIFOs and devices a build left behind are no part of a version.
  }
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

/**
 * Writes the tree `sha256` to `versionDir` (which must not exist yet): into a directory beside
 * it first, renamed into place once whole, so a crash leaves no half version under its name.
 * Links that are absolute or lead out of the version are not made (`skipped` names them): on
 * this node they would point at the platform's files, not the version's. Throws BLOB_NOT_FOUND
 * when the tree or one of its files is not in the store, CONFIG_INVALID for a listing with a
 * path that would leave the version directory.
 */
export async function materializeTree(
  sha256: string,
  blobs: BlobStore,
  versionDir: string,
): Promise<{ files: number; skipped: string[] }> {
  const entries = parseTree(await blobs.read(sha256), sha256);
  const temp = `${versionDir}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  const skipped: string[] = [];
  const links = new Set<string>();
  let files = 0;
  try {
    await mkdir(temp, { recursive: true });
    for (const entry of entries) {
      // Nothing is written through a link: a listing whose path runs through one did not come
      // from storeTree() (which lists links without following them) and could write anywhere.
      const segments = entry.path.split('/');
      for (let i = 1; i < segments.length; i++) {
        if (links.has(segments.slice(0, i).join('/'))) {
          throw new HangarError(
            'CONFIG_INVALID',
            `the built tree ${sha256} names ${JSON.stringify(entry.path)} inside the link ${segments.slice(0, i).join('/')}; deploy the version again`,
          );
        }
      }
      const target = join(temp, ...segments);
      if ('sha256' in entry) {
        await blobs.copyTo(entry.sha256, target, entry.mode);
        files++;
      } else if ('link' in entry) {
        if (!linkStaysInside(entry.path, entry.link)) {
          skipped.push(entry.path);
          continue;
        }
        await mkdir(dirname(target), { recursive: true });
        await symlink(entry.link, target);
        links.add(entry.path);
      } else {
        await mkdir(target, { recursive: true });
      }
    }
    await mkdir(dirname(versionDir), { recursive: true });
    await rename(temp, versionDir);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  return { files, skipped };
}

/** The listing, each path checked: relative, `/`-separated, no `.`/`..` segments. */
function parseTree(bytes: Buffer, sha256: string): TreeEntry[] {
  let entries: unknown;
  try {
    entries = JSON.parse(bytes.toString('utf8'));
  } catch {
    entries = undefined;
  }
  if (!Array.isArray(entries)) {
    throw new HangarError('CONFIG_INVALID', `blob ${sha256} is not a built tree; deploy the version again`);
  }
  for (const entry of entries as TreeEntry[]) {
    const path = (entry as { path?: unknown }).path;
    if (
      typeof path !== 'string' ||
      path === '' ||
      isAbsolute(path) ||
      path.includes('\\') ||
      path.includes('\0') ||
      path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
    ) {
      throw new HangarError(
        'CONFIG_INVALID',
        `the built tree ${sha256} names the path ${JSON.stringify(path)}, which would leave the version's directory; deploy the version again`,
      );
    }
  }
  return entries as TreeEntry[];
}

/** Whether the link at `path` to `target` resolves inside the version directory. */
function linkStaysInside(path: string, target: string): boolean {
  if (isAbsolute(target) || target.includes('\0')) return false;
  const root = resolve('/version');
  const resolved = resolve(root, ...posix.dirname(path).split('/'), target);
  return resolved === root || resolved.startsWith(root + sep);
}
