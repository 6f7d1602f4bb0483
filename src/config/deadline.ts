/**
 * The request deadline of a version (SPEC S6): `limits.request_deadline` under automatic
 * scaling; basic and manual scaling have none unless the platform config sets
 * `request_deadline` explicitly. One rule for every place that needs it: the platform's
 * instances, a Knative pod, and `hangar export kubernetes`'s `timeoutSeconds`.
 */
import type { PlatformConfig, Scaling } from './types.js';

/**
 * Milliseconds from a request's arrival to its deadline, or undefined for none.
 *
 * @example
 * versionDeadlineMs({ kind: 'automatic', ... }, defaultPlatformConfig.limits) // 60000
 * versionDeadlineMs({ kind: 'manual', instances: 1 }, defaultPlatformConfig.limits) // undefined
 */
export function versionDeadlineMs(
  scaling: Pick<Scaling, 'kind'>,
  limits: Pick<PlatformConfig['limits'], 'requestDeadlineMs' | 'requestDeadlineExplicit'>,
): number | undefined {
  if (scaling.kind === 'automatic' || limits.requestDeadlineExplicit) return limits.requestDeadlineMs;
  return undefined;
}
