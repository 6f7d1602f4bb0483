/**
 * The socket destination policy (SPEC S12), as pure functions: how ports and hosts are
 * normalised, which resolved addresses are refused and why, and the one-lookup vetting of a
 * destination. The socket service calls `vetDestination` for every connect and every
 * unconnected UDP send; nothing here does I/O except through the resolver it is given.
 */
import { domainToASCII } from 'node:url';
import { inspect } from 'node:util';
import { type ErrnoError, errnoError } from './errno.js';
import { normalisePort } from './ports.js';
import {
  type Address,
  builtinRange,
  embeddedIPv4,
  formatAddress,
  parseAddress,
  type RangeHit,
} from './ranges.js';

export { normalisePort };

/** The `sockets:` settings the policy reads (S15), plus whether this is the dev server. */
export interface PolicyConfig {
  allow: readonly string[];
  blocked: readonly string[];
  /** Dev server only: refuse loopback/private instead of letting them through with a warning. */
  strict: boolean;
  mode: 'dev' | 'serve';
}

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Name resolution as the socket service does it; tests pass a stub. */
export interface Resolver {
  lookup(name: string, family: 0 | 4 | 6): Promise<ResolvedAddress[]>;
}

export type Verdict = { allowed: true; warning?: string } | { allowed: false; rule: string; message: string };

/** A destination that passed: connect to `addresses` in order, and to nothing else. */
export interface VettedDestination {
  /** The host as the app gave it, normalised (IDNA ASCII, lower case) or the canonical IP. */
  host: string;
  port: number;
  addresses: ResolvedAddress[];
  warnings: string[];
}

export type HostTarget = { kind: 'ip'; address: Address; text: string } | { kind: 'name'; name: string };

/**
 * Reads a host the way the resolver will: IP literals in every `inet_aton` spelling become
 * the address they mean, names are mapped with IDNA (UTS #46: full-width letters, ideographic
 * full stops) to lower-case ASCII, so `ｌｏｃａｌｈｏｓｔ` and `１２７.０.０.１` are seen for what
 * they are. An empty host is `localhost`, as in Node.
 */
export function normaliseHost(host: unknown): HostTarget {
  if (host === undefined || host === null || host === '') host = 'localhost';
  if (typeof host !== 'string') {
    throw Object.assign(new TypeError(`The "host" option must be a string. Received ${inspect(host)}`), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  }
  const trimmed = host.trim();
  const literal = parseAddress(trimmed);
  if (literal) return { kind: 'ip', address: literal, text: formatAddress(literal) };
  if (/[\s/\\?#@:%[\]]/.test(trimmed) || trimmed.length > 253) throw notFound(host);
  const ascii = domainToASCII(trimmed);
  if (!ascii) throw notFound(host);
  const asIp = parseAddress(ascii);
  if (asIp) return { kind: 'ip', address: asIp, text: formatAddress(asIp) };
  return { kind: 'name', name: ascii.toLowerCase() };
}

function notFound(host: string): ErrnoError {
  return errnoError({
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname: host,
    message: `getaddrinfo ENOTFOUND ${host} (not a valid host name)`,
  });
}

type AllowEntry =
  | { kind: 'host'; host: string; port: number; text: string }
  | { kind: 'range'; range: [Address, number]; port: number; text: string };

interface BlockedEntry {
  range: [Address, number];
  text: string;
}

/** The rules of S12 compiled once from the `sockets:` config. */
export class SocketPolicy {
  readonly config: PolicyConfig;
  readonly #allow: AllowEntry[];
  readonly #blocked: BlockedEntry[];

  constructor(config: PolicyConfig) {
    this.config = config;
    this.#allow = config.allow.map(parseAllowEntry);
    this.#blocked = config.blocked.map((text) => ({ range: parseRange(text), text }));
  }

  /**
   * Whether `address:port` may be reached. `hostname` is the name the app asked for, if any:
   * `host:port` exceptions match on it. Port 25 is refused before any exception is looked at.
   */
  check(address: Address, port: number, hostname?: string): Verdict {
    const text = formatAddress(address);
    const where = hostname ? `${hostname} (${text}):${port}` : `${bracket(text)}:${port}`;
    if (port === 25) {
      return refuse(
        'port 25',
        where,
        'port 25 (SMTP) is refused on every host, exceptions included; submit mail on port 587 with authentication',
      );
    }
    const forms = [address, ...embeddedIPv4(address)];
    const name = hostname?.replace(/\.$/, '');
    for (const entry of this.#allow) {
      if (entry.port !== port) continue;
      if (entry.kind === 'host' ? entry.host === name : forms.some((a) => inRange(a, entry.range))) {
        return { allowed: true };
      }
    }
    for (const entry of this.#blocked) {
      if (forms.some((a) => inRange(a, entry.range))) {
        return refuse(
          `sockets.blocked ${entry.text}`,
          where,
          `${text} is in ${entry.text}, which the platform config blocks (sockets.blocked); ` +
            `an operator can add ${bracket(text)}:${port} to sockets.allow`,
        );
      }
    }
    const hit = builtinRange(address);
    if (!hit) return { allowed: true };
    const rule = describe(hit);
    const relaxed = this.config.mode === 'dev' && !this.config.strict;
    if (relaxed && (hit.rule === 'loopback' || hit.rule === 'private')) {
      return {
        allowed: true,
        warning:
          `socket to ${where} allowed on the dev server, but ${text} is ${rule} and production refuses it ` +
          `(--strict-sockets or sockets.strict: true refuses it here too; sockets.allow makes an exception)`,
      };
    }
    return refuse(
      rule,
      where,
      `${text} is ${rule}, which sockets may not reach; if it is a service of yours, ` +
        `list ${bracket(text)}:${port} in sockets.allow`,
    );
  }
}

function refuse(rule: string, where: string, why: string): Verdict {
  return { allowed: false, rule, message: `${where}: ${why}` };
}

function describe(hit: RangeHit): string {
  const base = `${hit.rule === 'cgnat' ? 'carrier-grade NAT' : hit.rule} (${hit.range})`;
  return hit.via ? `${base}: ${hit.via}` : base;
}

function bracket(text: string): string {
  return text.includes(':') ? `[${text}]` : text;
}

function inRange(address: Address, [base, bits]: [Address, number]): boolean {
  return address.kind() === base.kind() && address.match(base, bits);
}

function parseRange(text: string): [Address, number] {
  const [host = '', bits] = text.split('/');
  const address = parseAddress(host);
  if (!address) throw new Error(`'${text}' is not an IP address or CIDR range`);
  const max = address.kind() === 'ipv4' ? 32 : 128;
  return [address, bits === undefined ? max : Number(bits)];
}

function parseAllowEntry(text: string): AllowEntry {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  if (!match) throw new Error(`'${text}' is not host:port, ip:port or cidr:port`);
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(match[2]);
  if (host.includes('/') || parseAddress(host)) return { kind: 'range', range: parseRange(host), port, text };
  return { kind: 'host', host: domainToASCII(host).toLowerCase().replace(/\.$/, ''), port, text };
}

/**
 * Vets one destination with exactly one resolver call: normalises port and host, resolves a
 * name once, checks every address it got, and returns the addresses to connect to. Any
 * refused address refuses the whole destination (a name that answers with a private address
 * next to a public one is treated as a rebinding attempt), with an `EACCES` naming it and the
 * rule. Callers connect to the returned addresses only, never to the name again.
 */
export async function vetDestination(
  request: { host: unknown; port: unknown; family?: 0 | 4 | 6; syscall: string },
  policy: SocketPolicy,
  resolver: Resolver,
): Promise<VettedDestination> {
  const port = normalisePort(request.port);
  const target = normaliseHost(request.host);
  const family = request.family ?? 0;
  let addresses: ResolvedAddress[];
  let hostname: string | undefined;
  const literal = target.kind === 'ip' ? target.text : undefined;
  if (target.kind === 'ip') {
    addresses = [{ address: target.text, family: target.address.kind() === 'ipv4' ? 4 : 6 }];
  } else {
    hostname = target.name;
    addresses = await resolver.lookup(target.name, family);
    if (addresses.length === 0) throw notFound(target.name);
  }
  const warnings: string[] = [];
  const vetted: ResolvedAddress[] = [];
  for (const answer of addresses) {
    const address = parseAddress(answer.address);
    if (!address) throw notFound(hostname ?? answer.address);
    const verdict = policy.check(address, port, hostname);
    if (!verdict.allowed) {
      throw errnoError({
        code: 'EACCES',
        syscall: request.syscall,
        address: formatAddress(address),
        port,
        message: `${request.syscall} EACCES ${verdict.message} [rule: ${verdict.rule}]`,
      });
    }
    if (verdict.warning) warnings.push(verdict.warning);
    const canonical = formatAddress(address);
    if (family === 0 || family === (address.kind() === 'ipv4' ? 4 : 6)) {
      vetted.push({ address: canonical, family: address.kind() === 'ipv4' ? 4 : 6 });
    }
  }
  if (vetted.length === 0) throw notFound(hostname ?? String(request.host));
  return { host: hostname ?? literal ?? '', port, addresses: vetted, warnings };
}

/** True when `text` is an IP literal in any spelling the resolver accepts. */
export function isAddressLiteral(text: string): boolean {
  return parseAddress(text) !== undefined;
}
