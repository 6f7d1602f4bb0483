/**
 * Traffic splitting under `hangar serve` (S11, issue 19): two versions of one app, split with
 * the real `hangar versions split` CLI by cookie, by client address and at random. Requests go
 * to 127.0.0.1; the address split sends from other loopback addresses (127.0.0.2, ...),
 * which Linux gives every process.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deploy,
  fixture,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stopAllServes,
} from '../helpers/serve.js';

const APP = 'splitapp';
let serve: ServeProcess;

/** GET / on the app's host, from `localAddress`, with `cookie`; its version and Set-Cookie. */
function get(
  options: { cookie?: string; localAddress?: string } = {},
): Promise<{ version: string; setCookie: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${serve.url}/`,
      {
        headers: { host: `${APP}.localhost`, ...(options.cookie ? { cookie: options.cookie } : {}) },
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { currentVersionId: string };
          resolve({
            version: body.currentVersionId.split('.')[0]!,
            setCookie: res.headers['set-cookie']?.[0],
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function split(splits: string, by: string): Promise<void> {
  const run = await serve.hangar(['versions', 'split', '--app', APP, '--splits', splits, '--by', by]);
  expect(run.code, run.stderr).toBe(0);
}

/** Runs `count` calls, `parallel` at a time. */
async function many<T>(count: number, parallel: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await call(i);
      }
    }),
  );
  return out;
}

const share = (versions: string[], version: string) =>
  versions.filter((v) => v === version).length / versions.length;

beforeAll(async () => {
  serve = await startServe();
  for (const version of ['v1', 'v2']) {
    const run = await deploy(serve, fixture('serve-env'), ['--application', APP, '--version', version]);
    expect(run.code, run.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await stopAllServes();
  removeDataDirs();
});

describe('hangar versions split', () => {
  it('by cookie: 1,000 fresh clients land 70/30 within ±5 %, and each keeps its version over 10 requests', async () => {
    await split('v1=0.7,v2=0.3', 'cookie');
    const fresh = await many(1000, 20, () => get());
    expect(
      Math.abs(
        share(
          fresh.map((f) => f.version),
          'v1',
        ) - 0.7,
      ),
    ).toBeLessThanOrEqual(0.05);
    // Each fresh client was given its GOOGAPPUID; with it, it stays where it landed.
    for (const client of fresh.slice(0, 50)) {
      expect(client.setCookie).toMatch(/^GOOGAPPUID=\d+; Path=\//);
      const cookie = client.setCookie!.split(';')[0]!;
      const again = await many(10, 5, () => get({ cookie }));
      expect(new Set(again.map((a) => a.version))).toEqual(new Set([client.version]));
      expect(again.every((a) => a.setCookie === undefined)).toBe(true);
    }
    // A change of weights keeps every client whose bucket stays with its version: 70/30 → 60/40
    // moves only buckets 600-699 from v1 to v2.
    const kept = fresh.slice(0, 200).map((f) => ({
      cookie: f.setCookie!.split(';')[0]!,
      bucket: Number(f.setCookie!.split(/[=;]/)[1]),
      version: f.version,
    }));
    await split('v1=0.6,v2=0.4', 'cookie');
    for (const client of kept) {
      const now = (await get({ cookie: client.cookie })).version;
      expect(now).toBe(client.bucket < 600 ? 'v1' : 'v2');
      if (client.bucket < 600 || client.bucket >= 700) expect(now).toBe(client.version);
    }
  });

  it('by ip: each client address keeps its version', async () => {
    await split('v1=0.5,v2=0.5', 'ip');
    const addresses = Array.from({ length: 40 }, (_, i) => `127.0.0.${i + 2}`);
    const seen = new Set<string>();
    for (const localAddress of addresses) {
      const versions = await many(5, 5, () => get({ localAddress }));
      expect(new Set(versions.map((v) => v.version)).size).toBe(1);
      expect(versions.every((v) => v.setCookie === undefined)).toBe(true);
      seen.add(versions[0]!.version);
    }
    // 40 addresses over two halves: both versions serve some.
    expect(seen).toEqual(new Set(['v1', 'v2']));
  });

  it('at random: 1,000 requests land 70/30 within ±5 %', async () => {
    await split('v1=0.7,v2=0.3', 'random');
    const versions = await many(1000, 20, () => get({ cookie: 'GOOGAPPUID=0' }));
    expect(
      Math.abs(
        share(
          versions.map((v) => v.version),
          'v1',
        ) - 0.7,
      ),
    ).toBeLessThanOrEqual(0.05);
  });

  it('shows in versions list, refuses weights that are no split, and survives a restart', async () => {
    const refused = await serve.hangar(['versions', 'split', '--app', APP, '--splits', 'v1=0.7,v2=0.2']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/add up to 0\.9, not 1/);
    const list = await serve.hangar(['versions', 'list', '--json', '--app', APP]);
    const rows = JSON.parse(list.stdout) as { versions: Array<{ version: string; traffic: number }> };
    expect(rows.versions.map((r) => [r.version, r.traffic])).toEqual([
      ['v1', 0.7],
      ['v2', 0.3],
    ]);
    const dataDir = serve.dataDir;
    expect(await serve.stop()).toBe(0);
    serve = await startServe({ dataDir });
    const after = await many(400, 20, () => get());
    expect(new Set(after.map((a) => a.version))).toEqual(new Set(['v1', 'v2']));
  });
});
