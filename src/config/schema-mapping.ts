/**
 * Mappings with a fixed set of keys, and the helpers for rules that read several fields.
 *
 * Rules across fields run with `when: everywhere` and look only at fields that parsed
 * cleanly (`isClean`): one broken field must not hide the problems of the others, and a
 * rule must not trip over a value that failed its own check.
 */
import { z } from 'zod';
import { problem, wrongType } from './schema-kit.js';

/**
 * A mapping with a fixed set of keys; any other key is reported by name, with the allowed
 * keys and the closest match. (zod's strictObject reports all unknown keys as one issue at
 * the mapping, which cannot point at the offending line.)
 */
export function mapping<S extends z.ZodRawShape>(shape: S, what: string, fix: string) {
  const allowed = Object.keys(shape);
  return z.looseObject(shape, { error: wrongType('a mapping', fix) }).superRefine(
    (value, ctx) => {
      for (const key of Object.keys(value)) {
        if (allowed.includes(key)) continue;
        const near = closest(key, allowed);
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: problem(
            `unknown key '${key}'${near ? ` (did you mean '${near}'?)` : ''}`,
            `remove it; ${what} takes: ${allowed.join(', ')}`,
          ),
        });
      }
    },
    { when: everywhere },
  );
}

/** `when` for rules that must run even when other fields failed: they check `isClean` themselves. */
export function everywhere(payload: { value: unknown }): boolean {
  return isRecord(payload.value) || Array.isArray(payload.value);
}

/** True when no issue has been reported at or below `path` (relative to the value being refined). */
export function isClean(
  ctx: { issues: ReadonlyArray<{ path?: PropertyKey[] }> },
  path: PropertyKey[],
): boolean {
  return !ctx.issues.some((issue) => path.every((segment, i) => issue.path?.[i] === segment));
}

/** True for a plain mapping (not a list, not null). */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The allowed key nearest to a misspelt one (edit distance ≤ 2), if any. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
