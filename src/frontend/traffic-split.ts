/**
 * Which version of a split service answers a request (S11 traffic splitting), as App Engine
 * did it: the versions share 1,000 buckets in proportion to their weights, in the order of
 * their names, and a request falls into a bucket by its `GOOGAPPUID` cookie, by its client
 * address, or at random. Because the buckets are laid out in a fixed order, a change of
 * weights moves only the buckets between the old and the new boundaries: a client whose
 * bucket stays with its version keeps its version.
 */
import { randomInt } from 'node:crypto';

/** How requests pick their bucket (`hangar versions split --by`). */
export type SplitBy = 'cookie' | 'ip' | 'random';

export const SPLIT_COOKIE = 'GOOGAPPUID';
export const BUCKETS = 1000;

/** A split, laid out for lookups: `ends[i]` is the first bucket after version `versions[i]`'s. */
export interface SplitTable {
  readonly by: SplitBy;
  readonly versions: readonly string[];
  readonly ends: readonly number[];
  /**
   * The split in `hangar versions split`'s own syntax, `by:version=weight,...` (versions by
   * name, weights as given), e.g. `cookie:v1=0.7,v2=0.3`. Computed once with the table, so the
   * request log can name the split in force without building a string per request (S9).
   */
  readonly label: string;
}

/**
 * The table of a split: versions with a weight above 0, by name; each gets
 * `round(weight × 1000)` buckets, the last whatever is left.
 *
 * @example
 * splitTable({ v2: 0.3, v1: 0.7 }, 'cookie')
 * // { by: 'cookie', versions: ['v1', 'v2'], ends: [700, 1000], label: 'cookie:v1=0.7,v2=0.3' }
 */
export function splitTable(allocations: Readonly<Record<string, number>>, by: SplitBy): SplitTable {
  const versions = Object.keys(allocations)
    .filter((version) => (allocations[version] ?? 0) > 0)
    .sort();
  const ends: number[] = [];
  let sum = 0;
  for (const [i, version] of versions.entries()) {
    sum += allocations[version]!;
    ends.push(i === versions.length - 1 ? BUCKETS : Math.round(sum * BUCKETS));
  }
  const label = `${by}:${versions.map((version) => `${version}=${allocations[version]}`).join(',')}`;
  return { by, versions, ends, label };
}

/** The version that owns `bucket` (0 ≤ bucket < 1000). */
export function versionForBucket(table: SplitTable, bucket: number): string {
  for (let i = 0; i < table.ends.length; i++) if (bucket < table.ends[i]!) return table.versions[i]!;
  return table.versions[table.versions.length - 1]!;
}

/**
 * The bucket a `GOOGAPPUID` cookie names, or undefined when there is none (or it is not one of
 * ours: a whole number 0–999).
 *
 * @example
 * bucketFromCookie('theme=dark; GOOGAPPUID=412') // 412
 */
export function bucketFromCookie(cookie: string | undefined): number | undefined {
  if (!cookie) return undefined;
  const at = cookie.indexOf(`${SPLIT_COOKIE}=`);
  if (at === -1 || (at > 0 && !/[;\s]/.test(cookie[at - 1]!))) return undefined;
  const value = /^\d{1,3}(?=;|\s|$)/.exec(cookie.slice(at + SPLIT_COOKIE.length + 1))?.[0];
  return value === undefined ? undefined : Number(value);
}

/** A client address's bucket: the same address always gets the same one (FNV-1a). */
export function bucketFromIp(ip: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) {
    hash ^= ip.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % BUCKETS;
}

export function randomBucket(): number {
  return randomInt(BUCKETS);
}

/** The Set-Cookie header that keeps a client in `bucket` (a year; every path). */
export function splitCookie(bucket: number): string {
  return `${SPLIT_COOKIE}=${bucket}; Path=/; Max-Age=31536000; SameSite=Lax`;
}
