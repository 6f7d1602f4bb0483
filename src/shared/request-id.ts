import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';

/**
 * Request log ids (SPEC S9): 32 lowercase hex digits.
 *
 *   12 digits  milliseconds since the epoch  → later requests sort greater
 *    6 digits  sequence within that millisecond in this process → strictly increasing here
 *   14 digits  random, fixed per process (56 bits) → unique across processes
 *
 * When the clock stands still or steps back, the last millisecond is reused and the
 * sequence advances, so one process never issues an id that sorts before its previous one.
 */
export class RequestIdGenerator {
  readonly #node: string;
  #lastMs = 0;
  #seq = 0;

  constructor(node: string = randomBytes(7).toString('hex')) {
    if (!/^[0-9a-f]{14}$/.test(node)) throw new TypeError('node must be 14 lowercase hex digits');
    this.#node = node;
  }

  next(now: number = Date.now()): string {
    if (now > this.#lastMs) {
      this.#lastMs = now;
      this.#seq = 0;
    } else if (++this.#seq > 0xffffff) {
      this.#lastMs++;
      this.#seq = 0;
    }
    return this.#lastMs.toString(16).padStart(12, '0') + this.#seq.toString(16).padStart(6, '0') + this.#node;
  }
}

const shared = new RequestIdGenerator();

/** A new request log id from this process's generator. */
export function newRequestId(): string {
  return shared.next();
}

/** `REQUEST_ID_HASH` (S8): `%08X` of the CRC-32 of the request log id. */
export function requestIdHash(requestId: string): string {
  return crc32(requestId).toString(16).toUpperCase().padStart(8, '0');
}

// zlib.crc32 exists from Node 20.15; the table fallback keeps older 20.x working.
const zlibCrc32 = (zlib as { crc32?: (data: string) => number }).crc32;
let table: Uint32Array | undefined;

function crc32(text: string): number {
  if (zlibCrc32) return zlibCrc32(text);
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Instance ids (S6): 32 lowercase hex digits, random. */
export function newInstanceId(): string {
  return randomBytes(16).toString('hex');
}
