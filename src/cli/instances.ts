import type { InstanceView } from '../admin/admin-server.js';
import type { ScalingDecision } from '../scheduler/version-pool.js';
import { HangarError } from '../shared/errors.js';
import { type AdminClientOptions, adminGetJson, adminJson } from './admin-client.js';
import { formatTable } from './table.js';

export interface InstancesOptions extends AdminClientOptions {
  json?: boolean;
  /** How many of the latest scaling decisions to show. */
  decisions: number;
  /** Only this app's instances and decisions. */
  app?: string;
}

/** `hangar instances list` (SPEC S2, S6): instances of every version and the latest scaling decisions. */
export async function runInstancesList(opts: InstancesOptions): Promise<void> {
  const doc = forApp(
    await adminGetJson<{ instances: InstanceView[]; decisions: ScalingDecision[] }>(opts, '/api/instances'),
    opts.app,
  );
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatInstances(doc.instances, latestDecisions(doc.decisions, opts.decisions)));
}

/**
 * The instances and decisions of `app` only (`--app`); all of them without one. A decision
 * counts as the app's when it names it, or, from a platform that does not say, names one of its
 * instances.
 *
 * @example
 * forApp(doc, 'shop').instances.every((i) => i.app === 'shop') // true
 */
export function forApp(
  doc: { instances: InstanceView[]; decisions: ScalingDecision[] },
  app: string | undefined,
): { instances: InstanceView[]; decisions: ScalingDecision[] } {
  if (app === undefined) return doc;
  const instances = doc.instances.filter((i) => i.app === app);
  const ids = new Set(instances.map((i) => i.id));
  const decisions = doc.decisions.filter((d) =>
    d.app !== undefined ? d.app === app : d.instanceId !== undefined && ids.has(d.instanceId),
  );
  return { instances, decisions };
}

/**
 * The last `count` decisions; none for 0 (`--decisions 0`: the table alone), all of them only
 * when there are no more than `count`.
 *
 * @example
 * latestDecisions(decisions, 0) // undefined: the section is left out
 */
export function latestDecisions(
  decisions: readonly ScalingDecision[],
  count: number,
): readonly ScalingDecision[] | undefined {
  return count > 0 ? decisions.slice(-count) : undefined;
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

/** The table `hangar instances list` prints. */
export function formatInstances(
  instances: readonly InstanceView[],
  decisions: readonly ScalingDecision[] | undefined,
): string {
  const rows = [['INSTANCE', 'SERVICE/VERSION', 'STATE', 'BUSY', 'SERVED', 'MEMORY', 'STARTED']];
  for (const i of instances) {
    rows.push([
      i.id.slice(0, 12),
      `${i.service}/${i.version}`,
      i.state,
      `${i.busySlots}/${i.slots}`,
      String(i.requestsServed),
      `${mib(i.memory)} of ${mib(i.memoryLimit)}`,
      i.started.replace('T', ' ').slice(0, 19),
    ]);
  }
  let out = formatTable(rows);
  if (instances.length === 0) out += '\n(no instances running)';
  if (decisions === undefined) return `${out}\n`;
  out += '\n\nScaling decisions (newest last):\n';
  out += decisions.length
    ? decisions
        .map(
          (d) =>
            `${d.at.replace('T', ' ').slice(0, 19)}  ${d.service}/${d.version}  ${d.action.padEnd(12)} ${d.instanceId?.slice(0, 12) ?? ''.padEnd(12)}  ${d.reason}`,
        )
        .join('\n')
    : '(none yet)';
  return `${out}\n`;
}

/**
 * `hangar instances stop ID` (SPEC S2): the instance drains (its requests finish within
 * drain_timeout) and stops. ID may be the 12-character prefix `instances list` shows.
 */
export async function runInstancesStop(
  id: string,
  opts: AdminClientOptions & { json?: boolean },
): Promise<void> {
  const { instances } = await adminGetJson<{ instances: InstanceView[] }>(opts, '/api/instances');
  const matches = instances.filter((i) => i.id.startsWith(id));
  if (matches.length !== 1) {
    throw new HangarError(
      'USAGE',
      matches.length === 0
        ? `no instance ${id}; hangar instances list shows the running ones`
        : `${id} names ${matches.length} instances; give more of the id`,
    );
  }
  const full = matches[0]!.id;
  const doc = await adminJson<{ stopping: string }>(
    opts,
    'POST',
    `/api/instances/${encodeURIComponent(full)}/stop`,
  );
  if (opts.json) process.stdout.write(`${JSON.stringify(doc)}\n`);
  else
    process.stdout.write(`stopping ${full}: it takes no new requests and stops once its requests are done\n`);
}
