import { describe, expect, it } from 'vitest';
import { automaticScaling } from '../../test/helpers/scaling.js';
import type { AutomaticScaling, Scaling } from '../config/types.js';
import { decide, type InstanceLoad, type PoolSnapshot } from './autoscaler.js';

const automatic = (over: Partial<AutomaticScaling> = {}): AutomaticScaling => automaticScaling({ ...over });

const ready = (id: string, inflight: number, idleSince?: number): InstanceLoad => ({
  id,
  state: 'ready',
  inflight,
  idleSince: inflight === 0 ? (idleSince ?? 0) : undefined,
});
const starting = (id: string): InstanceLoad => ({ id, state: 'starting', inflight: 0 });

const snap = (
  scaling: Scaling,
  instances: InstanceLoad[],
  over: Partial<PoolSnapshot> = {},
): PoolSnapshot => ({
  now: 100_000,
  scaling,
  slotsPerInstance: 10,
  instances,
  pendingCount: 0,
  idlePeriodMs: 60_000,
  ...over,
});

const summary = (s: PoolSnapshot) =>
  decide(s).map((a) => (a.kind === 'start' ? `start: ${a.reason}` : `stop ${a.instanceId}: ${a.reason}`));

describe('decide (S6 autoscaler)', () => {
  it.each<[string, PoolSnapshot, string[]]>([
    ['nothing to do when idle and within limits', snap(automatic(), [ready('a', 0, 90_000)]), []],
    [
      'keeps min_instances',
      snap(automatic({ minInstances: 2 }), []),
      ['start: min_instances 2: 0 running', 'start: min_instances 2: 1 running'],
    ],
    [
      'keeps min_idle_instances idle',
      snap(automatic({ minIdleInstances: 1 }), [ready('a', 3)]),
      ['start: min_idle_instances 1: 0 idle'],
    ],
    [
      'utilisation above the target starts one',
      snap(automatic(), [ready('a', 7)]),
      ['start: 7/10 slots busy > 0.6'],
    ],
    ['utilisation at the target does not', snap(automatic(), [ready('a', 6)]), []],
    [
      'no second start on utilisation while one is starting',
      snap(automatic(), [ready('a', 9), starting('b')]),
      [],
    ],
    [
      'a pending request with no instance starts one at once',
      snap(automatic(), [], { pendingCount: 1, oldestPendingSince: 100_000 }),
      ['start: a request is pending and no instance is running'],
    ],
    [
      'pending longer than min_pending_latency starts enough for the queue',
      snap(automatic(), [ready('a', 1)], {
        slotsPerInstance: 1,
        pendingCount: 3,
        oldestPendingSince: 99_950,
      }),
      Array(3).fill('start: 3 pending, oldest 50 ms > min_pending_latency 30 ms'),
    ],
    [
      'pending shorter than min_pending_latency waits for the one starting',
      snap(automatic(), [ready('a', 1), starting('b')], {
        slotsPerInstance: 1,
        pendingCount: 3,
        oldestPendingSince: 99_990,
      }),
      [],
    ],
    [
      'instances already starting count against the queue',
      snap(automatic(), [ready('a', 1), starting('b'), starting('c')], {
        slotsPerInstance: 1,
        pendingCount: 3,
        oldestPendingSince: 99_900,
      }),
      ['start: 3 pending, oldest 100 ms > min_pending_latency 30 ms'],
    ],
    [
      'never more than max_instances',
      snap(automatic({ maxInstances: 2 }), [ready('a', 1), ready('b', 1)], {
        slotsPerInstance: 1,
        pendingCount: 8,
        oldestPendingSince: 0,
      }),
      [],
    ],
    [
      'max_instances caps a burst',
      snap(automatic({ maxInstances: 2 }), [ready('a', 1)], {
        slotsPerInstance: 1,
        pendingCount: 8,
        oldestPendingSince: 0,
      }),
      ['start: 8 pending, oldest 100000 ms > min_pending_latency 30 ms'],
    ],
    [
      'no start during back-off',
      snap(automatic({ minInstances: 1 }), [], { startBlockedUntil: 100_500 }),
      [],
    ],
    [
      'stops idle instances above max_idle_instances after the idle period, longest idle first',
      snap(automatic(), [ready('a', 0, 10_000), ready('b', 0, 20_000), ready('c', 0, 99_000)]),
      [
        'stop a: idle for 90 s; 3 idle > max_idle_instances 1',
        'stop b: idle for 80 s; 3 idle > max_idle_instances 1',
      ],
    ],
    [
      'keeps min_instances even when idle',
      snap(automatic({ minInstances: 2, maxIdleInstances: 0 }), [ready('a', 0, 0), ready('b', 0, 0)]),
      [],
    ],
    [
      'does not stop while requests are pending',
      snap(automatic(), [ready('a', 0, 0), ready('b', 0, 0), ready('c', 10)], {
        pendingCount: 1,
        oldestPendingSince: 99_999,
      }),
      [],
    ],
    [
      'basic: starts on demand up to max_instances',
      snap({ kind: 'basic', maxInstances: 2, idleTimeoutMs: 300_000 }, [ready('a', 1)], {
        slotsPerInstance: 1,
        pendingCount: 3,
        oldestPendingSince: 99_999,
      }),
      ['start: 3 pending, no free slot'],
    ],
    [
      'basic: stops after idle_timeout, down to zero',
      snap({ kind: 'basic', maxInstances: 2, idleTimeoutMs: 5_000 }, [
        ready('a', 0, 94_000),
        ready('b', 0, 96_000),
      ]),
      ['stop a: idle for 6 s ≥ basic_scaling idle_timeout 5 s'],
    ],
    [
      'manual: keeps the fixed count',
      snap({ kind: 'manual', instances: 3 }, [ready('a', 0, 0)]),
      ['start: manual_scaling instances 3: 1 running', 'start: manual_scaling instances 3: 2 running'],
    ],
    [
      'manual: never stops idle instances',
      snap({ kind: 'manual', instances: 1 }, [ready('a', 0, 0), ready('b', 0, 0)]),
      [],
    ],
  ])('%s', (_, snapshot, expected) => {
    expect(summary(snapshot)).toEqual(expected);
  });
});
