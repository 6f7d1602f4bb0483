/**
 * `hangar versions list|promote|delete` (SPEC S2, S11): the versions API of docs/serve.md and
 * nothing else. An error the API answers with is printed as its message (exit 1).
 */
import type { VersionView } from '../admin/deploy-api.js';
import { HangarError } from '../shared/errors.js';
import { checkShardBy, parseSplits } from '../versions/traffic.js';
import { type AdminClientOptions, adminJson } from './admin-client.js';
import { formatTable } from './table.js';

export type { VersionView };

export interface VersionsOptions extends AdminClientOptions {
  service?: string;
  app?: string;
  json?: boolean;
}

type Write = (text: string) => void;
const stdout: Write = (text) => process.stdout.write(text);

/** `hangar versions list`: one row per version, filtered by `--app` and `--service`. */
export async function runVersionsList(opts: VersionsOptions, write: Write = stdout): Promise<void> {
  const params = new URLSearchParams();
  if (opts.app !== undefined) params.set('app', opts.app);
  if (opts.service !== undefined) params.set('service', opts.service);
  const query = params.size > 0 ? `?${params}` : '';
  const doc = await adminJson<{ versions: VersionView[] }>(opts, 'GET', `/api/versions${query}`);
  if (opts.json) {
    write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  write(formatVersions(doc.versions));
}

/** The table `hangar versions list` prints; an APP column only when several apps are listed. */
export function formatVersions(versions: readonly VersionView[]): string {
  if (versions.length === 0) return '(no versions deployed)\n';
  const apps = new Set(versions.map((v) => v.app)).size > 1;
  const rows = [
    [...(apps ? ['APP'] : []), 'SERVICE', 'VERSION', 'MINOR', 'TRAFFIC', 'INSTANCES', 'CREATED', 'RUNTIME'],
  ];
  for (const v of versions) {
    rows.push([
      ...(apps ? [v.app] : []),
      v.service,
      v.version,
      String(v.minor),
      `${Math.round(v.traffic * 100)}%`,
      String(v.instances),
      String(v.created).replace('T', ' ').slice(0, 19),
      v.runtime,
    ]);
  }
  return `${formatTable(rows)}\n`;
}

/** `hangar versions promote V`: all of the service's default-host traffic to V. */
export async function runVersionsPromote(
  version: string,
  opts: VersionsOptions,
  write: Write = stdout,
): Promise<void> {
  const app = await resolveApp(opts);
  const service = opts.service ?? 'default';
  const doc = await adminJson<{ promoted?: unknown; previous?: unknown }>(
    opts,
    'POST',
    '/api/versions/promote',
    {
      app,
      service,
      version,
    },
  );
  if (opts.json) {
    write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const previous = versionName(doc.previous);
  const drains =
    previous === undefined
      ? 'no version served before it'
      : previous === version
        ? 'it already served'
        : `${previous} drains`;
  write(`promoted ${app}/${service}/${versionName(doc.promoted) ?? version}; ${drains}\n`);
}

/** `hangar versions delete V`: refused by the platform while V receives traffic. */
export async function runVersionsDelete(
  version: string,
  opts: VersionsOptions,
  write: Write = stdout,
): Promise<void> {
  const app = await resolveApp(opts);
  const service = opts.service ?? 'default';
  const path = [app, service, version].map(encodeURIComponent).join('/');
  const doc = await adminJson<unknown>(opts, 'DELETE', `/api/versions/${path}`);
  if (opts.json) {
    write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  write(`deleted ${app}/${service}/${version}\n`);
}

/**
 * `--app`, else the one app the platform has versions of (docs/serve.md: `--app` may be left
 * out then). The delete path names the app, so the CLI has to know it.
 */
async function resolveApp(opts: VersionsOptions): Promise<string> {
  if (opts.app !== undefined) return opts.app;
  const { versions } = await adminJson<{ versions: VersionView[] }>(opts, 'GET', '/api/versions');
  const apps = [...new Set(versions.map((v) => v.app))].sort();
  if (apps.length === 1) return apps[0]!;
  if (apps.length === 0) {
    throw new HangarError(
      'ADMIN_API',
      'the platform has no versions deployed; deploy one with hangar deploy',
    );
  }
  throw new HangarError(
    'USAGE',
    `the platform has several apps (${apps.join(', ')}); pass --app with one of them`,
  );
}

/** The version a promote answer names: a name, or an object with `version` (and `minor`). */
function versionName(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'object' && value !== null) {
    const { version } = value as { version?: unknown };
    if (typeof version === 'string') return version;
  }
  return undefined;
}

/**
 * `hangar versions split --splits v1=0.7,v2=0.3 [--by cookie|ip|random]`: the service's
 * traffic shared by weight (S11). The weights are checked here first, with the same rules the
 * platform applies, so a typo is told without a round trip.
 */
export async function runVersionsSplit(
  opts: VersionsOptions & { splits?: string; by?: string },
  write: Write = stdout,
): Promise<void> {
  if (!opts.splits)
    throw new HangarError('USAGE', 'name the versions and their weights: --splits v1=0.7,v2=0.3');
  const allocations = parseSplits(opts.splits);
  const shardBy = checkShardBy(opts.by ?? 'ip');
  const app = await resolveApp(opts);
  const service = opts.service ?? 'default';
  const doc = await adminJson<{ split?: { allocations: Record<string, number>; shardBy: string } }>(
    opts,
    'POST',
    '/api/versions/split',
    { app, service, allocations, shardBy },
  );
  if (opts.json) {
    write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const shares = Object.entries(doc.split?.allocations ?? allocations)
    .map(([version, weight]) => `${version} ${Math.round(weight * 100)}%`)
    .join(', ');
  write(`${app}/${service}: ${shares}, by ${doc.split?.shardBy ?? shardBy}; new requests follow it now\n`);
}
