import { promises as dns } from 'node:dns';
import type { Resolver } from '../policy.js';
import type { RRTYPES } from '../protocol.js';

/** The resolver of the socket service: `lookup` for connects, `resolve` for the app's `dns.resolve*`. */
export interface ServiceResolver extends Resolver {
  resolve(name: string, rrtype: (typeof RRTYPES)[number], ttl: boolean): Promise<unknown>;
}

/**
 * Asks the system resolver (getaddrinfo for lookups, the configured DNS servers for
 * `resolve*`), as the app's own `dns` module would have; tests inject a stub instead.
 */
export function systemResolver(): ServiceResolver {
  const resolver = new dns.Resolver();
  return {
    async lookup(name, family) {
      const answers = await dns.lookup(name, { all: true, family, verbatim: true });
      return answers.map(({ address, family: f }) => ({ address, family: f === 6 ? 6 : 4 }));
    },
    async resolve(name, rrtype, ttl) {
      if (rrtype === 'A') return resolver.resolve4(name, { ttl });
      if (rrtype === 'AAAA') return resolver.resolve6(name, { ttl });
      return resolver.resolve(name, rrtype);
    },
  };
}
