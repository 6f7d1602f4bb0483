/**
 * Sets of UTF-16 code units, for the backtracking check of handler patterns
 * (safe-pattern.ts). Patterns are compiled without flags, so a character class is a set of
 * code units, not of code points; `(?i:...)` and `(?s:...)` groups are honoured.
 */
import type { AST } from '@eslint-community/regexpp';

/** Sorted, disjoint, non-adjacent inclusive ranges `[from, to]` of code units. */
export type CharRanges = readonly (readonly [number, number])[];

export const ALL_CHARS: CharRanges = [[0, 0xffff]];

/** `\n`, `\r`, U+2028, U+2029: what `.` does not match. */
const LINE_TERMINATORS = normalise([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);

/**
 * What a request path can hold: Node's HTTP parser refuses control characters in the request
 * target (400), so a path never has a line terminator. Kept wider than the parser's printable
 * ASCII on purpose: only `.` needs to cover it, and a wider alphabet makes the check stricter.
 */
export const PATH_CHARS: CharRanges = complement(LINE_TERMINATORS);

const DIGIT = normalise([[0x30, 0x39]]);
const WORD = normalise([
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
]);
// ECMAScript WhiteSpace and LineTerminator (\s).
const SPACE = normalise([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);

/** Flags a group can switch on for its contents (`(?i:...)`, `(?s:...)`). */
export interface CharFlags {
  ignoreCase: boolean;
  dotAll: boolean;
}

/** The code units a one-character element matches. */
export function elementChars(
  node: AST.Character | AST.CharacterClass | AST.CharacterSet,
  flags: CharFlags,
): CharRanges {
  const plain = ((): CharRanges => {
    switch (node.type) {
      case 'Character':
        return [[node.value, node.value]];
      case 'CharacterSet':
        return setChars(node, flags);
      case 'CharacterClass': {
        const parts = node.elements.map((el): CharRanges => {
          if (el.type === 'Character') return [[el.value, el.value]];
          if (el.type === 'CharacterClassRange') return [[el.min.value, el.max.value]];
          if (el.type === 'CharacterSet') return setChars(el, flags);
          // Only unicodeSets (v) classes hold other elements; patterns never carry the v flag.
          return ALL_CHARS;
        });
        const chars = normalise(parts.flat());
        return node.negate ? complement(chars) : chars;
      }
    }
  })();
  return flags.ignoreCase ? caseClosure(plain) : plain;
}

function setChars(node: AST.CharacterSet, flags: CharFlags): CharRanges {
  if (node.kind === 'any') return flags.dotAll ? ALL_CHARS : PATH_CHARS;
  // \p{...} needs the u flag, which patterns never carry; counted as anything, to be safe.
  if (node.kind === 'property') return ALL_CHARS;
  const base = node.kind === 'digit' ? DIGIT : node.kind === 'word' ? WORD : SPACE;
  return node.negate ? complement(base) : base;
}

/** Adds the other case of each letter; a large set is widened to every code unit. */
function caseClosure(chars: CharRanges): CharRanges {
  if (size(chars) > 4096) return ALL_CHARS;
  const out: Array<readonly [number, number]> = [...chars];
  for (const [from, to] of chars) {
    for (let c = from; c <= to; c++) {
      const s = String.fromCharCode(c);
      for (const other of [s.toLowerCase(), s.toUpperCase()]) {
        if (other.length === 1) out.push([other.charCodeAt(0), other.charCodeAt(0)]);
      }
    }
  }
  return normalise(out);
}

/** Sorts and merges ranges. */
export function normalise(list: readonly (readonly [number, number])[]): CharRanges {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [from, to] of sorted) {
    const last = out[out.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

export function complement(chars: CharRanges): CharRanges {
  const out: [number, number][] = [];
  let next = 0;
  for (const [from, to] of chars) {
    if (from > next) out.push([next, from - 1]);
    next = to + 1;
  }
  if (next <= 0xffff) out.push([next, 0xffff]);
  return out;
}

export function intersect(a: CharRanges, b: CharRanges): CharRanges {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [af, at] = a[i]!;
    const [bf, bt] = b[j]!;
    const from = Math.max(af, bf);
    const to = Math.min(at, bt);
    if (from <= to) out.push([from, to]);
    if (at < bt) i++;
    else j++;
  }
  return out;
}

/**
 * Each set as a bit mask over the coarsest partition of the code units that the sets do not
 * split, so that "do these sets share a character" is a few ANDs.
 */
export function partition(sets: readonly CharRanges[]): Uint32Array[] {
  const cuts = [...new Set(sets.flatMap((set) => set.flatMap(([from, to]) => [from, to + 1])))].sort(
    (x, y) => x - y,
  );
  const words = Math.ceil(cuts.length / 32) || 1;
  return sets.map((set) => {
    const mask = new Uint32Array(words);
    for (const [from, to] of set) {
      // Pieces run from one cut to the next; the set covers those from `from` up to `to`.
      for (let i = cuts.indexOf(from); i < cuts.length && cuts[i]! <= to; i++) {
        mask[i >>> 5]! |= 1 << (i & 31);
      }
    }
    return mask;
  });
}

/** Whether `inner` ⊆ `outer`. */
export function covers(outer: CharRanges, inner: CharRanges): boolean {
  return size(intersect(outer, inner)) === size(inner);
}

function size(chars: CharRanges): number {
  let n = 0;
  for (const [from, to] of chars) n += to - from + 1;
  return n;
}

/** One code unit of a non-empty set, for examples: a letter or digit if it has one, else printable ASCII. */
export function sampleChar(chars: CharRanges): string {
  for (const preferred of [normalise([[0x61, 0x7a]]), WORD, normalise([[0x21, 0x7e]])]) {
    const both = intersect(chars, preferred);
    if (both[0]) return String.fromCharCode(both[0][0]);
  }
  return String.fromCharCode(chars[0]?.[0] ?? 0x3f);
}
