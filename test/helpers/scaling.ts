import type { AutomaticScaling } from '../../src/config/types.js';

/**
 * `automatic_scaling` as app.yaml's defaults make it (max_instances set explicitly), with
 * `over` on top: the scheduler's tests start from the same settings.
 */
export const automaticScaling = (over: Partial<AutomaticScaling> = {}): AutomaticScaling => ({
  kind: 'automatic',
  minInstances: 0,
  maxInstances: 20,
  maxInstancesExplicit: true,
  minIdleInstances: 0,
  maxIdleInstances: 1,
  targetThroughputUtilization: 0.6,
  maxConcurrentRequests: 10,
  minPendingLatencyMs: 30,
  ...over,
});
