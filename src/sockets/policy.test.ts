/**
 * The S12 policy as a table. Everything here is pure: names are answered by a stub resolver
 * and connections by a recording stub connector; no vector touches the network.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  normaliseHost,
  normalisePort,
  type PolicyConfig,
  type ResolvedAddress,
  type Resolver,
  SocketPolicy,
  vetDestination,
} from './policy.js';
import { dialTcp } from './service/dial.js';

const serve: PolicyConfig = { allow: [], blocked: [], strict: false, mode: 'serve' };
const dev: PolicyConfig = { ...serve, mode: 'dev' };

/** A resolver that answers from a table and counts its calls; unknown names are ENOTFOUND. */
function stubResolver(table: Record<string, Array<string[]> | string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const seen = new Map<string, number>();
  return {
    calls,
    async lookup(name) {
      calls.push(name);
      const entry = table[name];
      if (!entry) return [];
      // An array of arrays is a sequence: one answer per call (DNS rebinding).
      const n = seen.get(name) ?? 0;
      seen.set(name, n + 1);
      const answer = Array.isArray(entry[0])
        ? (entry as string[][])[Math.min(n, entry.length - 1)]!
        : (entry as string[]);
      return answer.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  };
}

const noLookups: Resolver = {
  lookup: async (name) => {
    throw new Error(`an IP literal must not be looked up, but ${name} was`);
  },
};

async function verdict(
  host: string,
  port: unknown = 443,
  config: PolicyConfig = serve,
  resolver = noLookups,
) {
  try {
    const vetted = await vetDestination(
      { host, port, syscall: 'connect' },
      new SocketPolicy(config),
      resolver,
    );
    return { ok: true as const, vetted };
  } catch (err) {
    return { ok: false as const, error: err as Error & { code: string; address?: string } };
  }
}

describe('port normalisation (as Node coerces ports)', () => {
  it.each([
    [25, 25],
    ['25', 25],
    [' 25 ', 25],
    ['\t25\n', 25],
    ['0x19', 25],
    ['2.5e1', 25],
    ['+25', 25],
    ['0o31', 25],
    ['0b11001', 25],
    ['025', 25],
    [25.0, 25],
    [1, 1],
    ['65535', 65535],
    [65535, 65535],
    [587, 587],
  ])('%j is port %i', (given, want) => {
    expect(normalisePort(given)).toBe(want);
  });

  it.each([
    [0],
    ['0'],
    [-1],
    ['-25'],
    [65536],
    ['65536'],
    ['0x10000'],
    [1.5],
    ['1.5'],
    [''],
    ['   '],
    ['abc'],
    ['25abc'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    ['1e5'],
    [null],
    [undefined],
    [{}],
    [[25]],
    [true],
  ])('%j is not a port (ERR_SOCKET_BAD_PORT)', (given) => {
    expect(() => normalisePort(given)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  });
});

describe('IP literals in production (serve)', () => {
  it.each([
    // IPv4 spellings of loopback that inet_aton accepts
    ['127.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['127.0.1', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['0X7f.1', 'loopback'],
    ['0x7F.0.0.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['017700000001', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['127.000.000.001', 'loopback'],
    ['127.0.0.1.', 'loopback'],
    ['１２７.０.０.１', 'loopback'],
    ['127。0。0。1', 'loopback'],
    ['①②⑦.0.0.1', 'loopback'],
    ['0', 'unspecified'],
    ['0.0.0.0', 'unspecified'],
    // both sides of every IPv4 boundary
    ['0.255.255.255', 'unspecified'],
    ['1.0.0.0', null],
    ['9.255.255.255', null],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['11.0.0.0', null],
    ['100.63.255.255', null],
    ['100.64.0.0', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.0', null],
    ['126.255.255.255', null],
    ['127.0.0.0', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['128.0.0.0', null],
    ['169.253.255.255', null],
    ['169.254.0.0', 'link-local'],
    ['169.254.169.254', 'link-local'],
    ['169.254.255.255', 'link-local'],
    ['169.255.0.0', null],
    ['172.15.255.255', null],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', null],
    ['191.255.255.255', null],
    ['192.0.0.0', 'reserved'],
    ['192.0.0.255', 'reserved'],
    ['192.0.1.0', null],
    ['192.0.2.0', 'documentation'],
    ['192.0.2.255', 'documentation'],
    ['192.0.3.0', null],
    ['192.88.98.255', null],
    ['192.88.99.0', 'reserved'],
    ['192.88.99.255', 'reserved'],
    ['192.88.100.0', null],
    ['192.167.255.255', null],
    ['192.168.0.0', 'private'],
    ['192.168.255.255', 'private'],
    ['192.169.0.0', null],
    ['198.17.255.255', null],
    ['198.18.0.0', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.20.0.0', null],
    ['198.51.99.255', null],
    ['198.51.100.0', 'documentation'],
    ['198.51.100.255', 'documentation'],
    ['198.51.101.0', null],
    ['203.0.112.255', null],
    ['203.0.113.0', 'documentation'],
    ['203.0.113.255', 'documentation'],
    ['203.0.114.0', null],
    ['223.255.255.255', null],
    ['224.0.0.0', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.0', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['8.8.8.8', null],
    ['1.0x7f.1', null],
    // IPv6 and the forms that embed IPv4
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::2', 'unspecified'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:8.8.8.8', null],
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::8.8.8.8', 'reserved'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::ffff:0:8.8.8.8', 'reserved'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::192.168.1.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b::8.8.8.8', null],
    ['64:ff9b:1::1', 'reserved'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:7f00:0001:0000::1', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['2002:a00:1::', 'private'],
    ['2002:a9fe:a9fe::', 'link-local'],
    ['2002:808:808::1', null],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'documentation'],
    ['2001:0:a00:1:0:0:f7f7:fbfb', 'private'],
    ['2001:0:7f00:1::', 'loopback'],
    ['2001:0:808:808:0:0:f7f7:fbfb', null],
    ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
    ['fc00::', 'private'],
    ['fd12:3456::1', 'private'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
    ['fe00::', 'reserved'],
    ['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
    ['fe80::', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
    ['fec0::1', 'reserved'],
    ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
    ['ff00::', 'multicast'],
    ['ff02::1', 'multicast'],
    ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['2001:db8::', 'documentation'],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
    ['2001:db9::', null],
    ['2001:1:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['2001:2::', 'benchmarking'],
    ['2001:2:0:ffff:ffff:ffff:ffff:ffff', 'benchmarking'],
    ['2001:2:1::', null],
    ['2001:10::1', 'reserved'],
    ['2001:20::1', 'reserved'],
    ['3ffe::', null],
    ['3fff::', 'documentation'],
    ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
    ['3fff:1000::', null],
    ['5f00::1', 'reserved'],
    ['100::', 'reserved'],
    ['100::ffff:ffff:ffff:ffff', 'reserved'],
    ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
    ['2000::', null],
    ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['4000::', 'reserved'],
    ['2001:4860:4860::8888', null],
    ['2606:4700:4700::1111', null],
  ])('%s → %s', async (host, rule) => {
    const result = await verdict(host);
    if (rule === null) {
      expect(result.ok, result.ok ? '' : result.error.message).toBe(true);
      return;
    }
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('EACCES');
    expect(result.error.message).toContain(`[rule: ${rule === 'cgnat' ? 'carrier-grade NAT' : rule} (`);
    // The message names the address it refused.
    expect(result.error.message).toContain(result.error.address);
  });
});

describe('port 25', () => {
  it.each([
    ['8.8.8.8', 25, serve],
    ['8.8.8.8', '25', serve],
    ['8.8.8.8', ' 25 ', serve],
    ['8.8.8.8', '0x19', serve],
    ['8.8.8.8', '2.5e1', serve],
    ['8.8.8.8', '+25', serve],
    ['2001:4860:4860::8888', 25, serve],
    ['8.8.8.8', 25, { ...serve, allow: ['8.8.8.8:25'] }],
    ['127.0.0.1', 25, { ...dev, allow: ['127.0.0.1:25'] }],
    ['127.0.0.1', 25, dev],
  ] as Array<[string, unknown, PolicyConfig]>)('%s port %j is refused (%j)', async (host, port, config) => {
    const result = await verdict(host, port, config);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toMatch(/port 25 \(SMTP\).*\[rule: port 25\]/);
  });

  it('a host allowed on port 25 by name is refused as well', async () => {
    const resolver = stubResolver({ 'smtp.example.com': ['8.8.8.8'] });
    const result = await verdict(
      'smtp.example.com',
      25,
      { ...serve, allow: ['smtp.example.com:25'] },
      resolver,
    );
    expect(result.ok).toBe(false);
  });

  it.each([[587], [465], [24], [26]])('port %i on a public host passes', async (port) => {
    expect((await verdict('8.8.8.8', port)).ok).toBe(true);
  });
});

describe('sockets.allow and sockets.blocked', () => {
  it.each([
    // [host, port, config, allowed]
    ['10.0.0.5', 6379, { ...serve, allow: ['10.0.0.5:6379'] }, true],
    ['10.0.0.5', 6380, { ...serve, allow: ['10.0.0.5:6379'] }, false],
    ['10.0.0.6', 6379, { ...serve, allow: ['10.0.0.5:6379'] }, false],
    ['10.1.2.3', 443, { ...serve, allow: ['10.1.0.0/16:443'] }, true],
    ['10.1.255.255', 443, { ...serve, allow: ['10.1.0.0/16:443'] }, true],
    ['10.2.0.0', 443, { ...serve, allow: ['10.1.0.0/16:443'] }, false],
    ['::1', 8080, { ...serve, allow: ['[::1]:8080'] }, true],
    ['::ffff:127.0.0.1', 8080, { ...serve, allow: ['127.0.0.1:8080'] }, true],
    ['127.1', 8080, { ...serve, allow: ['127.0.0.1:8080'] }, true],
    ['8.8.8.8', 53, { ...serve, blocked: ['8.8.8.0/24'] }, false],
    ['8.8.4.4', 53, { ...serve, blocked: ['8.8.8.0/24'] }, true],
    ['8.8.8.8', 53, { ...serve, blocked: ['8.8.8.0/24'], allow: ['8.8.8.8:53'] }, true],
    ['::ffff:8.8.8.8', 53, { ...serve, blocked: ['8.8.8.8'] }, false],
    ['2001:4860:4860::8888', 53, { ...serve, blocked: ['2001:4860::/32'] }, false],
    ['127.0.0.2', 9000, { ...dev, blocked: ['127.0.0.2/32'] }, false],
    ['127.0.0.1', 9000, { ...dev, blocked: ['127.0.0.2/32'] }, true],
    ['127.0.0.2', 9000, { ...dev, blocked: ['127.0.0.0/8'], allow: ['127.0.0.2:9000'] }, true],
  ] as Array<[string, number, PolicyConfig, boolean]>)(
    '%s:%i with %j → %s',
    async (host, port, config, allowed) => {
      const result = await verdict(host, port, config);
      expect(result.ok).toBe(allowed);
      if (!result.ok && config.blocked.length) expect(result.error.message).toContain('sockets.blocked');
    },
  );

  it('host:port exceptions match the name the app asked for, not the address', async () => {
    const resolver = stubResolver({ 'db.internal': ['10.0.0.7'], 'other.internal': ['10.0.0.7'] });
    const config = { ...serve, allow: ['DB.Internal.:5432'] };
    expect((await verdict('db.internal', 5432, config, resolver)).ok).toBe(true);
    expect((await verdict('DB.INTERNAL', 5432, config, resolver)).ok).toBe(true);
    expect((await verdict('other.internal', 5432, config, resolver)).ok).toBe(false);
    expect((await verdict('db.internal', 5433, config, resolver)).ok).toBe(false);
  });
});

describe('the dev server', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.0.0.1', true],
    ['192.168.1.1', true],
    ['fd00::1', true],
    ['::1', true],
    ['::ffff:192.168.0.1', true],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['192.0.2.1', false],
  ])('lets %s through with a warning: %s', async (host, allowed) => {
    const result = await verdict(host, 8080, dev);
    expect(result.ok).toBe(allowed);
    if (result.ok) {
      expect(result.vetted.warnings).toHaveLength(1);
      expect(result.vetted.warnings[0]).toMatch(/production refuses it/);
    }
  });

  it.each([['127.0.0.1'], ['10.0.0.1'], ['::1'], ['fd00::1']])('refuses %s when strict', async (host) => {
    const result = await verdict(host, 8080, { ...dev, strict: true });
    expect(result.ok).toBe(false);
  });

  it('public destinations carry no warning', async () => {
    const result = await verdict('8.8.8.8', 443, dev);
    expect(result.ok && result.vetted.warnings).toEqual([]);
  });
});

describe('names (stub resolver)', () => {
  const resolver = () =>
    stubResolver({
      localhost: ['127.0.0.1', '::1'],
      'localhost.': ['127.0.0.1'],
      'file.test': ['127.0.0.1'],
      'xn--bcher-kva.de': ['10.0.0.1'],
      'public.test': ['8.8.8.8', '2001:4860:4860::8888'],
      'mixed.test': ['8.8.8.8', '10.0.0.1'],
      'mixed6.test': ['2001:4860:4860::8888', 'fd00::1'],
      'mapped.test': ['::ffff:127.0.0.1'],
      'nat64.test': ['64:ff9b::a00:1'],
      'empty.test': [],
    });

  it.each([
    ['localhost', 'localhost'],
    ['LocalHost', 'localhost'],
    ['ＬＯＣＡＬＨＯＳＴ', 'localhost'],
    ['ｌｏｃａｌｈｏｓｔ', 'localhost'],
    ['ᴸᴼᶜᴬᴸᴴᴼˢᵀ', 'localhost'],
    ['ⓛⓞⓒⓐⓛⓗⓞⓢⓣ', 'localhost'],
    ['loca\u00adlhost', 'localhost'],
    ['localho\u200bst', 'localhost'],
    ['localhost\u3002', 'localhost.'],
    ['ﬁle.test', 'file.test'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['', 'localhost'],
  ])('%j is looked up as %s and refused for what it resolves to', async (host, asked) => {
    const stub = resolver();
    const result = await verdict(host, 443, serve, stub);
    expect(stub.calls).toEqual([asked]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('EACCES');
  });

  it.each([
    ['mixed.test', '10.0.0.1'],
    ['mixed6.test', 'fd00::1'],
    ['mapped.test', '::ffff:7f00:1'],
    ['nat64.test', '64:ff9b::a00:1'],
  ])('%s: one refused answer among others refuses the name, naming %s', async (host, bad) => {
    const result = await verdict(host, 443, serve, resolver());
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.address).toBe(bad);
      expect(result.error.message).toContain(bad);
      expect(result.error.message).toContain(host);
    }
  });

  it('a public name passes with every address it answered', async () => {
    const result = await verdict('public.test', 443, serve, resolver());
    expect(result.ok && result.vetted.addresses.map((a) => a.address)).toEqual([
      '8.8.8.8',
      '2001:4860:4860::8888',
    ]);
  });

  it.each([
    ['empty.test'],
    ['unknown.test'],
    ['1.2.3.4.5'],
    ['999.1.1.1'],
    ['a/b'],
    ['ex ample.com'],
    ['x@y'],
  ])('%s is ENOTFOUND', async (host) => {
    const result = await verdict(host, 443, serve, resolver());
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('ENOTFOUND');
  });

  it('normaliseHost reads IP spellings as addresses and names as IDNA ASCII', () => {
    expect(normaliseHost('0x7f.1')).toMatchObject({ kind: 'ip', text: '127.0.0.1' });
    expect(normaliseHost('ＥＸＡＭＰＬＥ.com')).toEqual({ kind: 'name', name: 'example.com' });
  });
});

describe('DNS rebinding: exactly one lookup, and the connection goes to the vetted address', () => {
  /** Records where dialTcp asked to connect and answers `connect` without any network. */
  function recordingConnector() {
    const dialed: string[] = [];
    const connect = (address: string, port: number) => {
      dialed.push(`${address}:${port}`);
      const fake = new EventEmitter() as unknown as Socket;
      process.nextTick(() => fake.emit('connect'));
      return fake;
    };
    return { dialed, connect };
  }

  it('public first, loopback on the second answer: one lookup, connected to the public address', async () => {
    const resolver = stubResolver({ 'rebind.test': [['8.8.8.8'], ['127.0.0.1']] });
    const { dialed, connect } = recordingConnector();
    const result = await dialTcp(
      { host: 'rebind.test', port: 443 },
      { policy: new SocketPolicy(serve), resolver, connect },
    );
    expect(resolver.calls).toEqual(['rebind.test']);
    expect(dialed).toEqual(['8.8.8.8:443']);
    expect(result.remote.address).toBe('8.8.8.8');
  });

  it('loopback first: refused before any connection is attempted', async () => {
    const resolver = stubResolver({ 'rebind.test': [['127.0.0.1'], ['8.8.8.8']] });
    const { dialed, connect } = recordingConnector();
    await expect(
      dialTcp({ host: 'rebind.test', port: 443 }, { policy: new SocketPolicy(serve), resolver, connect }),
    ).rejects.toMatchObject({ code: 'EACCES', address: '127.0.0.1' });
    expect(resolver.calls).toEqual(['rebind.test']);
    expect(dialed).toEqual([]);
  });

  it('a failing first address falls back to the next vetted one, still without a second lookup', async () => {
    const resolver = stubResolver({ 'two.test': ['8.8.8.8', '8.8.4.4'] });
    const dialed: string[] = [];
    const connect = (address: string, port: number) => {
      dialed.push(`${address}:${port}`);
      const fake = new EventEmitter() as unknown as Socket;
      process.nextTick(() =>
        address === '8.8.8.8'
          ? fake.emit('error', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))
          : fake.emit('connect'),
      );
      return fake;
    };
    const result = await dialTcp(
      { host: 'two.test', port: '0x1bb' },
      { policy: new SocketPolicy(serve), resolver, connect },
    );
    expect(resolver.calls).toEqual(['two.test']);
    expect(dialed).toEqual(['8.8.8.8:443', '8.8.4.4:443']);
    expect(result.remote.address).toBe('8.8.4.4');
  });

  it('an IP literal is never looked up', async () => {
    const { dialed, connect } = recordingConnector();
    await dialTcp(
      { host: '2130706433', port: 8080 },
      { policy: new SocketPolicy(dev), resolver: noLookups, connect },
    );
    expect(dialed).toEqual(['127.0.0.1:8080']);
  });
});
