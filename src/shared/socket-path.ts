import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Longest Unix socket path used: the kernel's limit is ~107 bytes, with room kept for suffixes. */
const maxSocketPathBytes = 100;

/**
 * Where a Unix socket named `name` of the data dir's `run/` lives. Socket paths are limited to
 * ~107 bytes, so a deep data dir falls back to a short path under the system temp dir, the
 * same for every process of that data dir (tagged by a hash of `runDir`). `longest` is the
 * longest name that will be derived from the result (e.g. the request channel's `.ch.sock`
 * beside an instance's socket), so every derived path fits too.
 *
 * @example
 * const path = runSocketPath(join(dataDir, 'run'), 'sockets.sock');
 */
export function runSocketPath(
  runDir: string,
  name: string,
  longest: (path: string) => string = (p) => p,
): string {
  const preferred = join(runDir, name);
  if (Buffer.byteLength(longest(preferred)) <= maxSocketPathBytes) return preferred;
  const tag = createHash('sha256').update(runDir).digest('hex').slice(0, 12);
  return join(tmpdir(), `hangar-${tag}`, name);
}
