import { describe, expect, it } from 'vitest';
import type { ScalingDecision } from '../scheduler/version-pool.js';
import { formatInstances, latestDecisions } from './instances.js';

const decision = (n: number): ScalingDecision => ({
  at: `2026-12-05T20:00:0${n}.000Z`,
  service: 'default',
  version: 'v1',
  action: 'start' as ScalingDecision['action'],
  instanceId: `${n}`.repeat(12),
  reason: `reason ${n}`,
});

describe('hangar instances list --decisions', () => {
  const decisions = [decision(1), decision(2), decision(3)];

  it('0 shows none and leaves the section out', () => {
    expect(latestDecisions(decisions, 0)).toBeUndefined();
    const table = formatInstances([], latestDecisions(decisions, 0));
    expect(table).not.toContain('Scaling decisions');
    expect(table).not.toContain('reason');
  });

  it('N shows the last N, newest last', () => {
    expect(latestDecisions(decisions, 2)?.map((d) => d.reason)).toEqual(['reason 2', 'reason 3']);
    expect(latestDecisions(decisions, 20)).toHaveLength(3);
    const table = formatInstances([], latestDecisions(decisions, 1));
    expect(table).toContain('Scaling decisions (newest last):');
    expect(table).toContain('reason 3');
    expect(table).not.toContain('reason 2');
  });
});
