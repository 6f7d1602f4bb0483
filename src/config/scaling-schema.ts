/**
 * `automatic_scaling`, `basic_scaling` and `manual_scaling` (SPEC S3, S6), normalised to
 * the Scaling shapes with every default filled in.
 */

import {
  checkDuration,
  checkWhole,
  convert,
  duration,
  numberIn,
  problem,
  wholeNumber,
} from './schema-kit.js';
import { everywhere, isClean, mapping } from './schema-mapping.js';
import type { AutomaticScaling, BasicScaling, ManualScaling } from './types.js';

/** S6 defaults for automatic scaling; `maxPendingLatencyMs` unset means the platform limit. */
export const AUTOMATIC_DEFAULTS = {
  minInstances: 0,
  maxInstances: 20,
  minIdleInstances: 0,
  maxIdleInstances: 1,
  targetThroughputUtilization: 0.6,
  maxConcurrentRequests: 10,
  minPendingLatencyMs: 30,
} as const;

/** App Engine caps `max_pending_latency` at 10 s; so do we. */
export const MAX_PENDING_LATENCY_CAP_MS = 10_000;

/** Automatic scaling with nothing set. */
export function defaultAutomaticScaling(): AutomaticScaling {
  return { kind: 'automatic', ...AUTOMATIC_DEFAULTS, maxInstancesExplicit: false };
}

const INSTANCE_LIMIT = 1000;

/** An idle-instance count, or `automatic` (the default). */
const idleInstances = convert((value) =>
  value === 'automatic'
    ? ('automatic' as const)
    : checkWhole(value, 0, INSTANCE_LIMIT, `use a whole number from 0 to ${INSTANCE_LIMIT}, or automatic`),
);

/** A pending latency, or `automatic` (the default). */
function pendingLatency(maxMs?: number) {
  const fix = `write a duration such as 30ms or 1.5s${maxMs ? ` (at most ${maxMs / 1000}s)` : ''}, or automatic`;
  return convert((value) =>
    value === 'automatic' ? ('automatic' as const) : checkDuration(value, fix, { maxMs }),
  );
}

/** `automatic_scaling:`, with min ≤ max checks for each pair the user wrote. */
export const automaticScalingSchema = mapping(
  {
    min_instances: wholeNumber(
      0,
      INSTANCE_LIMIT,
      `use a whole number from 0 to ${INSTANCE_LIMIT}`,
    ).optional(),
    max_instances: wholeNumber(
      1,
      INSTANCE_LIMIT,
      `use a whole number from 1 to ${INSTANCE_LIMIT}`,
    ).optional(),
    min_idle_instances: idleInstances.optional(),
    max_idle_instances: idleInstances.optional(),
    target_throughput_utilization: numberIn(
      0.5,
      0.95,
      'use a fraction from 0.5 to 0.95, e.g. 0.6',
    ).optional(),
    max_concurrent_requests: wholeNumber(
      1,
      1000,
      'use a whole number from 1 to 1000 (default 10)',
    ).optional(),
    min_pending_latency: pendingLatency().optional(),
    max_pending_latency: pendingLatency(MAX_PENDING_LATENCY_CAP_MS).optional(),
  },
  'automatic_scaling',
  'write automatic_scaling as a mapping, e.g. max_instances: 5',
)
  .superRefine(
    (s, ctx) => {
      const pairs = [
        ['min_instances', 'max_instances'],
        ['min_idle_instances', 'max_idle_instances'],
        ['min_pending_latency', 'max_pending_latency'],
      ] as const;
      for (const [minKey, maxKey] of pairs) {
        const min = s[minKey];
        const max = s[maxKey];
        if (!isClean(ctx, [minKey]) || !isClean(ctx, [maxKey])) continue;
        if (typeof min !== 'number' || typeof max !== 'number' || min <= max) continue;
        ctx.addIssue({
          code: 'custom',
          path: [minKey],
          message: problem(
            `${minKey} (${String(s[minKey])}) is greater than ${maxKey} (${String(s[maxKey])})`,
            `lower ${minKey} or raise ${maxKey}`,
          ),
        });
      }
    },
    { when: everywhere },
  )
  .transform((s): AutomaticScaling => {
    const d = AUTOMATIC_DEFAULTS;
    const minInstances = s.min_instances ?? d.minInstances;
    const minIdle = numberOr(s.min_idle_instances, d.minIdleInstances);
    const scaling: AutomaticScaling = {
      kind: 'automatic',
      minInstances,
      // An unset maximum follows a larger minimum: the default is not a choice the user made.
      maxInstances: s.max_instances ?? Math.max(d.maxInstances, minInstances),
      maxInstancesExplicit: s.max_instances !== undefined,
      minIdleInstances: minIdle,
      maxIdleInstances: numberOr(s.max_idle_instances, Math.max(d.maxIdleInstances, minIdle)),
      targetThroughputUtilization: s.target_throughput_utilization ?? d.targetThroughputUtilization,
      maxConcurrentRequests: s.max_concurrent_requests ?? d.maxConcurrentRequests,
      minPendingLatencyMs: numberOr(s.min_pending_latency, d.minPendingLatencyMs),
    };
    const maxPending = s.max_pending_latency;
    if (typeof maxPending === 'number') scaling.maxPendingLatencyMs = maxPending;
    return scaling;
  });

/** `basic_scaling:` — max_instances required, idle_timeout default 5m. */
export const basicScalingSchema = mapping(
  {
    max_instances: wholeNumber(1, 200, 'use a whole number from 1 to 200', 'add max_instances: 1 to 200'),
    idle_timeout: duration('write a duration such as 5m or 30s', { minMs: 1 }).optional(),
  },
  'basic_scaling',
  'write basic_scaling as a mapping, e.g. max_instances: 2',
).transform(
  (s): BasicScaling => ({
    kind: 'basic',
    maxInstances: s.max_instances,
    idleTimeoutMs: s.idle_timeout ?? 300_000,
  }),
);

/** `manual_scaling:` — instances required. */
export const manualScalingSchema = mapping(
  { instances: wholeNumber(1, 200, 'use a whole number from 1 to 200', 'add instances: 1 to 200') },
  'manual_scaling',
  'write manual_scaling as a mapping, e.g. instances: 1',
).transform((s): ManualScaling => ({ kind: 'manual', instances: s.instances }));

function numberOr(value: number | 'automatic' | undefined, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}
