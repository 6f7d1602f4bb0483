/**
 * Traffic splitting under `hangar serve` (S11, issue 19): two versions of one app, split with
 * the real `hangar versions split` CLI by cookie, by client address and at random. Requests go
 * to 127.0.0.1; the address split sends from other loopback addresses (127.0.0.2, ...),
 * which Linux gives every process. Each request's log entry, read back through the admin API,
 * names the split in force and the version that answered.
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
  until,
} from '../helpers/serve.js';

const APP = 'splitapp';
let serve: ServeProcess;

/**
 * GET `path` (default `/`) on `host` (default the app's), from `localAddress`, with `cookie`;
 * its version and Set-Cookie.
 */
function get(
  options: { cookie?: string; localAddress?: string; path?: string; host?: string } = {},
): Promise<{ version: string; setCookie: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${serve.url}${options.path ?? '/'}`,
      {
        headers: {
          host: options.host ?? `${APP}.localhost`,
          ...(options.cookie ? { cookie: options.cookie } : {}),
        },
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

interface LogEntryView {
  resource: string;
  version: string | null;
  split: string | null;
}

/** The app's request log entries whose resource contains `text`, once there are `count` of them. */
function logged(text: string, count: number): Promise<Map<string, LogEntryView>> {
  return until(`${count} request log entries of ${text}`, 15_000, async () => {
    const res = await serve.admin('GET', `/api/logs?app=${APP}&text=${encodeURIComponent(text)}&limit=1000`);
    expect(res.status, res.text).toBe(200);
    const { entries } = res.json as { entries: LogEntryView[] };
    return entries.length >= count ? new Map(entries.map((e) => [e.resource, e])) : undefined;
  });
}

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
    const fresh = await many(1000, 20, (i) => get({ path: `/?fresh=${i}` }));
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
    const movedVersions: string[] = [];
    for (const [i, client] of kept.entries()) {
      const now = (await get({ cookie: client.cookie, path: `/?moved=${i}` })).version;
      movedVersions.push(now);
      expect(now).toBe(client.bucket < 600 ? 'v1' : 'v2');
      if (client.bucket < 600 || client.bucket >= 700) expect(now).toBe(client.version);
    }

    // Each request's log entry names the split in force when it was routed, and the version
    // that answered it; a request to a version's own host was routed by no split.
    const freshLogged = await logged('fresh=', fresh.length);
    for (const [i, answer] of fresh.entries()) {
      const entry = freshLogged.get(`/?fresh=${i}`);
      expect(entry, `/?fresh=${i}`).toMatchObject({ split: 'cookie:v1=0.7,v2=0.3', version: answer.version });
    }
    const movedLogged = await logged('moved=', kept.length);
    for (const [i, version] of movedVersions.entries()) {
      expect(movedLogged.get(`/?moved=${i}`), `/?moved=${i}`).toMatchObject({
        split: 'cookie:v1=0.6,v2=0.4',
        version,
      });
    }
    const named = await get({ host: `v2-dot-${APP}.localhost`, path: '/?named=1' });
    expect(named.version).toBe('v2');
    expect((await logged('named=', 1)).get('/?named=1')).toMatchObject({ split: null, version: 'v2' });
  });

  it('a change of split takes effect at once on new requests and fails none in flight', async () => {
    await split('v1=0.7,v2=0.3', 'cookie');
    // Bucket 100 is v1's under 0.7/0.3 (buckets 0-699) and v2's under 0.05/0.95 (50-999).
    const cookie = 'GOOGAPPUID=100';
    const inFlight = Array.from({ length: 6 }, (_, i) => {
      const started = get({ cookie, path: `/?delay=2000&inflight=${i}` });
      return started.then((answer) => ({ ...answer, at: performance.now() }));
    });
    // The six are on v1's instance (busy slots), not merely sent.
    await until('six requests in flight on v1', 10_000, async () => {
      const res = await serve.admin('GET', '/api/instances');
      const { instances } = res.json as { instances: { app: string; version: string; busySlots: number }[] };
      const busy = instances
        .filter((i) => i.app === APP && i.version === 'v1')
        .reduce((n, i) => n + i.busySlots, 0);
      return busy >= 6 ? true : undefined;
    });
    const changed = await serve.admin('POST', '/api/versions/split', {
      app: APP,
      service: 'default',
      allocations: { v1: 0.05, v2: 0.95 },
      shardBy: 'cookie',
    });
    expect(changed.status, changed.text).toBe(200);
    const changedAt = performance.now();
    // A new request of the same client follows the new split at once.
    expect((await get({ cookie, path: '/?after-change=1' })).version).toBe('v2');
    // Every request in flight at the change finishes on the version that took it, after the change.
    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      expect(answer.version).toBe('v1');
      expect(answer.at).toBeGreaterThan(changedAt);
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
