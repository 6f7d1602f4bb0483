/**
 * What every target of the suite answers, in one place so all of them send the same bytes:
 * the hello text, the ~50 KiB JSON document and the lines the logging route writes. Plain
 * JavaScript with no imports, because bare Node, the Functions Framework, workerd and a
 * Hangar instance all load it as is.
 */

export const hello = 'Hello, World!';

/** Log lines per request on `/log`. */
export const logLines = 10;

/** 468 records of the kind an API lists: ~50 KiB as JSON, compressible as real JSON is. */
export const json = JSON.stringify({
  items: Array.from({ length: 468 }, (_, i) => ({
    id: i,
    name: `item ${i}`,
    owner: `user${i % 37}@example.com`,
    tags: ['alpha', 'beta', 'gamma'].slice(0, 1 + (i % 3)),
    price: Math.round(((i * 7919) % 10000) / 3) / 100,
    active: i % 5 !== 0,
  })),
});

/** The `i`th line a `/log` request writes; `id` tells requests apart where the platform gives one. */
export function logLine(i, id) {
  return `bench line ${i} of ${id}`;
}
