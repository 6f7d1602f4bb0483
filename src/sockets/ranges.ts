/**
 * The address ranges sockets may never reach (SPEC S12), from the IANA special-purpose
 * registries, and how IPv6 forms that embed an IPv4 address are looked through. Pure data and
 * lookups; `policy.ts` decides what a hit means (refuse, or warn on the dev server).
 */
import ipaddr from 'ipaddr.js';

/** Why an address is refused; the dev server lets `loopback` and `private` through with a warning. */
export type RangeRule =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'unspecified'
  | 'broadcast'
  | 'multicast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking';

export type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A refused range an address falls in; `via` names the embedding (e.g. `it embeds 10.0.0.1 (NAT64)`). */
export interface RangeHit {
  rule: RangeRule;
  range: string;
  via?: string;
}

type Table = Array<[cidr: string, rule: RangeRule]>;

// Order matters only where ranges nest: 255.255.255.255 is named before 240.0.0.0/4.
const v4Table: Table = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
];

const v6Table: Table = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'reserved'],
  ['100::/64', 'reserved'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:10::/28', 'reserved'],
  ['2001:20::/28', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'reserved'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'reserved'],
  ['ff00::/8', 'multicast'],
];

const compiled = <T extends Address>(table: Table) =>
  table.map(([cidr, rule]) => ({ cidr, rule, range: ipaddr.parseCIDR(cidr) as [T, number] }));
const v4Ranges = compiled<ipaddr.IPv4>(v4Table);
const v6Ranges = compiled<ipaddr.IPv6>(v6Table);

/** IPv6 prefixes whose low bits carry an IPv4 address that is checked in its place. */
const embeddings: Array<{ cidr: [ipaddr.IPv6, number]; name: string; extract: (p: number[]) => number[][] }> =
  [
    {
      cidr: ipaddr.parseCIDR('::ffff:0:0/96') as [ipaddr.IPv6, number],
      name: 'IPv4-mapped',
      extract: last32,
    },
    // IPv4-translated (RFC 6145): ::ffff:0:a.b.c.d
    {
      cidr: ipaddr.parseCIDR('::ffff:0:0:0/96') as [ipaddr.IPv6, number],
      name: 'IPv4-translated',
      extract: last32,
    },
    { cidr: ipaddr.parseCIDR('::/96') as [ipaddr.IPv6, number], name: 'IPv4-compatible', extract: last32 },
    { cidr: ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number], name: 'NAT64', extract: last32 },
    {
      cidr: ipaddr.parseCIDR('2002::/16') as [ipaddr.IPv6, number],
      name: '6to4',
      extract: (p) => [[p[1]! >> 8, p[1]! & 0xff, p[2]! >> 8, p[2]! & 0xff]],
    },
    {
      // Teredo: the server's IPv4 in bits 32-63, the client's (inverted) in the last 32 bits.
      cidr: ipaddr.parseCIDR('2001::/32') as [ipaddr.IPv6, number],
      name: 'Teredo',
      extract: (p) => [
        [p[2]! >> 8, p[2]! & 0xff, p[3]! >> 8, p[3]! & 0xff],
        [(~p[6]! >> 8) & 0xff, ~p[6]! & 0xff, (~p[7]! >> 8) & 0xff, ~p[7]! & 0xff],
      ],
    },
  ];

function last32(p: number[]): number[][] {
  return [[p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff]];
}

/** Forms that embed IPv4 but are no destination of their own: refused even when the IPv4 is public. */
const deadForms = new Set(['IPv4-translated', 'IPv4-compatible']);

const globalUnicast = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];

/**
 * Parses an IP literal into its canonical form, or returns undefined. IPv4 in any spelling
 * `inet_aton` accepts (`127.1`, `0x7f.1`, `2130706433`, `017700000001`) is read the way the
 * resolver would read it; IPv6 zone ids (`fe80::1%eth0`) are dropped.
 */
export function parseAddress(text: string): Address | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (bare.includes(':')) {
    try {
      // The WHATWG serializer turns `::1.2.3.4` into hex pieces, which ipaddr.js reads literally.
      const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
      return ipaddr.IPv6.parse(canonical);
    } catch {
      return undefined;
    }
  }
  if (!/^[0-9a-fA-FxX.]+$/.test(bare)) return undefined;
  try {
    const canonical = new URL(`http://${bare}/`).hostname;
    return ipaddr.IPv4.isValidFourPartDecimal(canonical) ? ipaddr.IPv4.parse(canonical) : undefined;
  } catch {
    return undefined;
  }
}

/** The canonical text of an address: dotted quad, or RFC 5952 IPv6. */
export function formatAddress(address: Address): string {
  return address.kind() === 'ipv4' ? address.toString() : (address as ipaddr.IPv6).toRFC5952String();
}

/** The refused range `address` falls in, looking through IPv4-embedding IPv6 forms; undefined when public. */
export function builtinRange(address: Address): RangeHit | undefined {
  if (address.kind() === 'ipv4') return v4Hit(address as ipaddr.IPv4);
  const v6 = address as ipaddr.IPv6;
  for (const { cidr, rule, range } of v6Ranges) {
    if (v6.match(range)) return { rule, range: cidr };
  }
  for (const form of embeddings) {
    if (!v6.match(form.cidr)) continue;
    for (const octets of form.extract(v6.parts)) {
      const inner = new ipaddr.IPv4(octets);
      const hit = v4Hit(inner);
      if (hit) return { ...hit, via: `it embeds ${inner.toString()} (${form.name})` };
    }
    if (deadForms.has(form.name)) {
      return { rule: 'reserved', range: formatCidr(form.cidr), via: `the deprecated ${form.name} form` };
    }
    return undefined;
  }
  if (!v6.match(globalUnicast)) return { rule: 'reserved', range: 'outside 2000::/3' };
  return undefined;
}

/** IPv4 addresses an IPv6 address stands for (mapped/translated/compatible/NAT64/6to4/Teredo). */
export function embeddedIPv4(address: Address): ipaddr.IPv4[] {
  if (address.kind() === 'ipv4') return [];
  const v6 = address as ipaddr.IPv6;
  if (v6.match(ipaddr.parseCIDR('::/127') as [ipaddr.IPv6, number])) return [];
  const form = embeddings.find((f) => v6.match(f.cidr));
  return form ? form.extract(v6.parts).map((octets) => new ipaddr.IPv4(octets)) : [];
}

function v4Hit(address: ipaddr.IPv4): RangeHit | undefined {
  for (const { cidr, rule, range } of v4Ranges) {
    if (address.match(range)) return { rule, range: cidr };
  }
  return undefined;
}

function formatCidr([address, bits]: [Address, number]): string {
  return `${formatAddress(address)}/${bits}`;
}
