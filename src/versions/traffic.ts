/**
 * The rules a traffic split must follow (S11 `hangar versions split`), as gcloud's: at least
 * one version, weights between 0 and 1 with at most two decimals, summing to exactly 1. Pure,
 * so the store and the admin API give the same answer.
 */
import { HangarError } from '../shared/errors.js';
import type { ShardBy } from './types.js';

export const SHARD_BY: readonly ShardBy[] = ['cookie', 'ip', 'random'];

/**
 * `allocations` when they form a split; throws HANGAR_E_USAGE naming what is wrong otherwise.
 *
 * @example
 * checkAllocations({ v1: 0.7, v2: 0.3 }) // ok
 * checkAllocations({ v1: 0.7, v2: 0.2 }) // throws: the weights add up to 0.9, not 1
 */
export function checkAllocations(allocations: Readonly<Record<string, unknown>>): Record<string, number> {
  const entries = Object.entries(allocations);
  if (entries.length === 0) {
    throw new HangarError('USAGE', 'a split needs at least one version with a weight, e.g. v1=0.7,v2=0.3');
  }
  let hundredths = 0;
  const out: Record<string, number> = {};
  for (const [version, weight] of entries) {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 1) {
      throw new HangarError(
        'USAGE',
        `the weight of ${version} must be a number from 0 to 1, not ${String(weight)}`,
      );
    }
    const cents = Math.round(weight * 100);
    if (Math.abs(cents - weight * 100) > 1e-6) {
      throw new HangarError('USAGE', `the weight of ${version} (${weight}) has more than two decimals`);
    }
    hundredths += cents;
    out[version] = cents / 100;
  }
  if (hundredths !== 100) {
    throw new HangarError(
      'USAGE',
      `the weights add up to ${hundredths / 100}, not 1: ${entries.map(([v, w]) => `${v}=${w}`).join(',')}`,
    );
  }
  return out;
}

/**
 * `--splits v1=0.7,v2=0.3` as allocations (checked).
 *
 * @example
 * parseSplits('v1=0.7,v2=0.3') // { v1: 0.7, v2: 0.3 }
 */
export function parseSplits(text: string): Record<string, number> {
  const allocations: Record<string, number> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [version, weight, extra] = part.split('=');
    if (!version || weight === undefined || extra !== undefined || weight.trim() === '') {
      throw new HangarError('USAGE', `'${part}' is not VERSION=WEIGHT; write --splits v1=0.7,v2=0.3`);
    }
    if (version in allocations) throw new HangarError('USAGE', `${version} is named twice in --splits`);
    allocations[version.trim()] = Number(weight);
  }
  return checkAllocations(allocations);
}

export function checkShardBy(by: unknown): ShardBy {
  if (typeof by === 'string' && (SHARD_BY as readonly string[]).includes(by)) return by as ShardBy;
  throw new HangarError('USAGE', `--by must be one of ${SHARD_BY.join(', ')}, not '${String(by)}'`);
}
