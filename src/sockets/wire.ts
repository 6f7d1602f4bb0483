/**
 * The parts of the socket protocol (protocol.ts) that need no schema: its version, the DNS record
 * types and the line format. The in-instance shim imports these at start and loads the zod
 * schemas only with its first socket, so an instance that never opens one never pays for zod
 * (about 50 ms of every cold start on Node 20).
 */

export const PROTOCOL_VERSION = 1;

export const RRTYPES = [
  'A',
  'AAAA',
  'ANY',
  'CAA',
  'CNAME',
  'MX',
  'NAPTR',
  'NS',
  'PTR',
  'SOA',
  'SRV',
  'TXT',
] as const;

/** One JSON line. */
export function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
