import { closeSync, openSync, readSync } from 'node:fs';

/**
 * The first `length` bytes of an open file, read whole; throws when it holds fewer. The front
 * end's body spool keeps a body at the start of a file that may hold an earlier, longer body's
 * bytes after it (src/frontend/body-spool.ts), so a body is read for its own length.
 */
export function readPrefix(fd: number, length: number, name: string): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const read = readSync(fd, bytes, done, length - done, done);
    if (read === 0) throw new Error(`${name} has ${done} bytes, fewer than the ${length} expected`);
    done += read;
  }
  return bytes;
}

/** readPrefix() of the file at `path`. */
export function readFilePrefix(path: string, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    return readPrefix(fd, length, path);
  } finally {
    closeSync(fd);
  }
}
