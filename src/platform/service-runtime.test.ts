import { describe, expect, it } from 'vitest';
import { defaultAutomaticScaling } from '../config/scaling-schema.js';
import type { AppConfig, AutomaticScaling } from '../config/types.js';
import { effectiveScaling } from './service-runtime.js';

const automatic: AutomaticScaling = defaultAutomaticScaling();
const app = (over: Partial<AppConfig>) => ({ threadsafe: true, scaling: automatic, ...over }) as AppConfig;

describe('effectiveScaling', () => {
  it.each<[string, Partial<AppConfig>, number]>([
    ['caps an unset max_instances of a threadsafe app at the cores', {}, 2],
    [
      'keeps an explicit max_instances',
      { scaling: { ...automatic, maxInstances: 8, maxInstancesExplicit: true } },
      8,
    ],
    ['keeps 20 for threadsafe: false (an instance is the unit of concurrency)', { threadsafe: false }, 20],
    ['never goes below min_instances', { scaling: { ...automatic, minInstances: 5, maxInstances: 20 } }, 5],
  ])('%s', (_, over, expected) => {
    const scaling = effectiveScaling(app(over), 2);
    expect(scaling.kind === 'automatic' && scaling.maxInstances).toBe(expected);
  });

  it('leaves basic and manual scaling alone', () => {
    const basic = { kind: 'basic', maxInstances: 7, idleTimeoutMs: 1000 } as const;
    expect(effectiveScaling(app({ scaling: basic }), 2)).toBe(basic);
  });
});
