import { describe, expect, it } from 'vitest';
import type { ScalingDecision } from '../scheduler/version-pool.js';
import { forApp, formatInstances, latestDecisions } from './instances.js';

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

describe('hangar instances list --app', () => {
  const view = (id: string, app: string) => ({
    id,
    app,
    service: 'default',
    version: 'v1',
    state: 'ready',
    pid: 1,
    busySlots: 0,
    slots: 10,
    requestsServed: 0,
    started: '2026-12-05T20:00:00.000Z',
    readyMs: 100,
    memory: 0,
    memoryLimit: 1,
  });
  const doc = {
    instances: [view('a1', 'shop'), view('b1', 'blog')],
    decisions: [
      { ...decision(1), app: 'shop', instanceId: 'a1' },
      { ...decision(2), app: 'blog', instanceId: 'b1' },
      // From a platform that does not name the app: known by its instance, or not at all.
      { ...decision(3), instanceId: 'a1' },
      { ...decision(4), instanceId: undefined },
    ],
  };

  it('keeps only the app’s instances and decisions', () => {
    const shop = forApp(doc, 'shop');
    expect(shop.instances.map((i) => i.id)).toEqual(['a1']);
    expect(shop.decisions.map((d) => d.reason)).toEqual(['reason 1', 'reason 3']);
    expect(forApp(doc, 'none').instances).toEqual([]);
    expect(forApp(doc, undefined)).toBe(doc);
  });
});
