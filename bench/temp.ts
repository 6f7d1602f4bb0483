/** Temporary directories of the suite: each removed by its owner, and all of them if the suite is interrupted. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

/** A fresh directory under the OS temp dir, named `hangar-bench-<purpose>-XXXXXX`. */
export function makeTempDir(purpose: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hangar-bench-${purpose}-`));
  made.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  made.delete(dir);
}

export function removeAllTempDirs(): void {
  for (const dir of made) removeTempDir(dir);
}
