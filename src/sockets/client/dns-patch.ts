/**
 * `node:dns` in an instance (S12): lookups and `resolve*` are answered by the socket service;
 * reverse lookups (`reverse`, `lookupService`) are not implemented, App Engine's
 * `gethostbyaddr` rule; choosing DNS servers is refused (the platform's resolver is the one).
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { errnoError } from '../errno.js';
import { RRTYPES } from '../wire.js';
import type { ServiceLink } from './link.js';
import { refusal } from './net-patch.js';

type RRType = (typeof RRTYPES)[number];
type Callback = (err: Error | null, ...values: unknown[]) => void;
interface LookupAddress {
  address: string;
  family: number;
}

const resolveMethods: Array<[name: string, rrtype: RRType]> = [
  ['resolve4', 'A'],
  ['resolve6', 'AAAA'],
  ['resolveAny', 'ANY'],
  ['resolveCaa', 'CAA'],
  ['resolveCname', 'CNAME'],
  ['resolveMx', 'MX'],
  ['resolveNaptr', 'NAPTR'],
  ['resolveNs', 'NS'],
  ['resolvePtr', 'PTR'],
  ['resolveSoa', 'SOA'],
  ['resolveSrv', 'SRV'],
  ['resolveTxt', 'TXT'],
];

/** Installs the `node:dns` side of the shim (callback API, `dns.promises`, both Resolver classes). */
export function patchDns(link: ServiceLink): void {
  const lookupVia = async (hostname: string, options: unknown): Promise<LookupAddress[]> => {
    const opts =
      typeof options === 'number' ? { family: options } : ((options ?? {}) as { family?: unknown });
    const family = familyOf(opts.family);
    const literal = isIP(hostname);
    if (literal) return [{ address: hostname, family: literal }];
    return (await link.call({
      ...link.identity(),
      op: 'lookup',
      host: hostname,
      family,
      all: true,
    })) as LookupAddress[];
  };
  const resolveVia = (hostname: unknown, rrtype: unknown, ttl: boolean): Promise<unknown> => {
    if (typeof hostname !== 'string') return Promise.reject(invalid('hostname', hostname));
    const type = rrtype === undefined ? 'A' : rrtype;
    if (!RRTYPES.includes(type as RRType)) {
      return Promise.reject(
        Object.assign(new TypeError(`Unknown rrtype: ${String(type)}`), { code: 'ERR_INVALID_ARG_VALUE' }),
      );
    }
    return link.call({ ...link.identity(), op: 'resolve', host: hostname, rrtype: type as RRType, ttl });
  };

  const lookup = (hostname: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === 'function' ? options : callback) as Callback;
    const opts = typeof options === 'function' ? {} : options;
    if (typeof cb !== 'function') throw invalid('callback', cb);
    const all = typeof opts === 'object' && opts !== null && (opts as { all?: unknown }).all === true;
    lookupVia(hostname, opts).then(
      (answers) => (all ? cb(null, answers) : cb(null, answers[0]!.address, answers[0]!.family)),
      (err: Error) => cb(err),
    );
    return {};
  };
  const promisesLookup = async (hostname: string, options?: unknown) => {
    const answers = await lookupVia(hostname, options);
    const all =
      typeof options === 'object' && options !== null && (options as { all?: unknown }).all === true;
    return all ? answers : answers[0];
  };

  const callbackResolve = (rrtype: RRType | undefined) =>
    function (this: unknown, hostname: unknown, second?: unknown, third?: unknown) {
      const cb = (typeof second === 'function' ? second : third) as Callback;
      if (typeof cb !== 'function') throw invalid('callback', cb);
      const type = rrtype ?? (typeof second === 'string' ? second : undefined);
      const ttl = typeof second === 'object' && second !== null && (second as { ttl?: unknown }).ttl === true;
      resolveVia(hostname, type, ttl).then(
        (records) => cb(null, records),
        (err: Error) => cb(err),
      );
      return {};
    };
  const promiseResolve = (rrtype: RRType | undefined) =>
    function (this: unknown, hostname: unknown, second?: unknown) {
      const type = rrtype ?? (typeof second === 'string' ? second : undefined);
      const ttl = typeof second === 'object' && second !== null && (second as { ttl?: unknown }).ttl === true;
      return resolveVia(hostname, type, ttl);
    };

  const notImplemented = (name: string) =>
    errnoError({
      code: 'ENOTIMP',
      syscall: name,
      message: `dns.${name} is not implemented on Hangar: reverse lookups are not offered (App Engine's gethostbyaddr rule); resolve names forward instead`,
    });
  const serversRefused = () =>
    refusal(
      'setServers',
      "choosing DNS servers is refused; names are resolved by the platform's socket service",
    );

  const callbackApi = dns as unknown as Record<string, unknown>;
  const promiseApi = dns.promises as unknown as Record<string, unknown>;
  const callbackResolver = dns.Resolver.prototype as unknown as Record<string, unknown>;
  const promiseResolver = dns.promises.Resolver.prototype as unknown as Record<string, unknown>;

  callbackApi.lookup = lookup;
  promiseApi.lookup = promisesLookup;
  for (const target of [callbackApi, callbackResolver]) {
    target.resolve = callbackResolve(undefined);
    for (const [name, rrtype] of resolveMethods) target[name] = callbackResolve(rrtype);
    target.reverse = () => {
      throw notImplemented('reverse');
    };
    target.setServers = () => {
      throw serversRefused();
    };
  }
  for (const target of [promiseApi, promiseResolver]) {
    target.resolve = promiseResolve(undefined);
    for (const [name, rrtype] of resolveMethods) target[name] = promiseResolve(rrtype);
    target.reverse = () => Promise.reject(notImplemented('reverse'));
    target.setServers = () => {
      throw serversRefused();
    };
  }
  callbackApi.lookupService = () => {
    throw notImplemented('lookupService');
  };
  promiseApi.lookupService = () => Promise.reject(notImplemented('lookupService'));
}

function familyOf(value: unknown): 0 | 4 | 6 {
  if (value === 4 || value === 'IPv4') return 4;
  if (value === 6 || value === 'IPv6') return 6;
  return 0;
}

function invalid(name: string, value: unknown): TypeError {
  return Object.assign(new TypeError(`The "${name}" argument is invalid. Received ${typeof value}`), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
}
