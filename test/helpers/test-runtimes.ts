/**
 * The Node binaries of the runtime tests, from the cache `npm test` fills before the tests
 * (scripts/fetch-test-runtimes.mjs). Tests never fetch: a Node missing from the cache is an
 * error saying how to fetch it, so no test reaches beyond loopback.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type NodeRuntime, resolveNodeRuntime } from '../../src/versions/node-runtimes.js';

/** The cache's root; its `runtimes/` is what a test's data dir links to. */
export const testRuntimesRoot =
  process.env.HANGAR_TEST_RUNTIMES_DIR ?? join(homedir(), '.cache', 'hangar-test-runtimes');

/** `runtime`'s Node: the platform's own, or the cached one. */
export function cachedNode(runtime: string): Promise<NodeRuntime> {
  return resolveNodeRuntime(runtime, {
    dataDir: testRuntimesRoot,
    fetchNode: async () => {
      throw new Error(
        `${runtime} is not in the test cache ${testRuntimesRoot}; run \`node scripts/fetch-test-runtimes.mjs\` (npm test does, before the tests)`,
      );
    },
  });
}
