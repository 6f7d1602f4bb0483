import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HangarError } from '../shared/errors.js';
import { ConfigError, sortIssues } from './issues.js';
import { platformSchema } from './platform-schema.js';
import type { PlatformConfig } from './types.js';
import { readYamlSource } from './yaml-source.js';
import { toConfigIssues } from './zod-issues.js';

/** The file `serve`/`dev` read from the data dir when `--config` is not given (S15). */
export const PLATFORM_CONFIG_FILE = 'hangar.config.yaml';

/**
 * Every platform-wide limit with its S15 default. Units: `...Ms` milliseconds, `...Bytes`
 * bytes. Frozen: copy before changing anything, e.g. in tests.
 */
export const defaultPlatformConfig: PlatformConfig = deepFreeze({
  limits: {
    requestDeadlineMs: 60_000,
    requestDeadlineExplicit: false,
    deadlineGraceMs: 1_000,
    maxRequestBytes: 33_554_432,
    maxResponseBytes: 33_554_432,
    maxPendingLatencyMs: 10_000,
    drainTimeoutMs: 30_000,
    maxHeaderBytes: 16_384,
    maxHeaderCount: 100,
    shutdownGraceMs: 1_000,
    unresponsiveAfterMs: 1_000,
    headerTimeoutMs: 10_000,
    bodyIdleTimeoutMs: 30_000,
    maxConnections: 10_000,
    maxConnectionsPerClient: 256,
    maxBufferedBytes: 256 * 1024 ** 2,
  },
  sockets: {
    idleTimeoutMs: 10 * 60_000,
    allow: [],
    blocked: [],
    strict: false,
    maxOpenPerApp: 1000,
    startTimeoutMs: 15_000,
    stopTimeoutMs: 3_000,
    requestTimeoutMs: 5_000,
    restartDelayMs: 1_000,
  },
  urlfetch: {
    defaultDeadlineMs: 5_000,
    maxDeadlineMs: 60_000,
    maxRequestBytes: 10_485_760,
    maxResponseBytes: 33_554_432,
  },
  logs: { retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3 },
  scheduler: {
    idlePeriodMs: 60_000,
    heartbeatIntervalMs: 250,
    heartbeatTimeoutMs: 3_000,
    startBackoffMaxMs: 30_000,
    startTimeoutMs: 30_000,
    stopTimeoutMs: 2_000,
  },
  authDomain: 'gmail.com',
  auth: { oidc: undefined, admins: [] },
  quotas: { daily: {} },
  runtimes: {},
});

/**
 * Loads the platform config (S15), validated like app.yaml (every problem with its line),
 * merged over `defaultPlatformConfig` and deep-frozen.
 *
 * - `file` given: that file must exist (else HangarError `CONFIG_NOT_FOUND`, naming
 *   `options.givenBy`, default `--config`, as where the path came from).
 * - else `options.dataDir` given: `<dataDir>/hangar.config.yaml` when present.
 * - else the defaults.
 *
 * @example
 * const config = await loadPlatformConfig(opts.config, { dataDir: opts.dataDir });
 * config.limits.requestDeadlineMs // 60000 unless configured
 */
export async function loadPlatformConfig(
  file?: string,
  options: { dataDir?: string; givenBy?: string } = {},
): Promise<PlatformConfig> {
  let path: string;
  const givenBy = options.givenBy ?? '--config';
  if (file !== undefined) {
    path = resolve(file);
    if (!(await stat(path).catch(() => undefined))?.isFile()) {
      throw new HangarError(
        'CONFIG_NOT_FOUND',
        `platform config ${path} does not exist; check the ${givenBy} path, or leave ${givenBy} out to use the defaults`,
      );
    }
  } else if (options.dataDir !== undefined) {
    path = join(resolve(options.dataDir), PLATFORM_CONFIG_FILE);
    if (!(await stat(path).catch(() => undefined))?.isFile()) return defaultPlatformConfig;
  } else {
    return defaultPlatformConfig;
  }

  const source = await readYamlSource(path);
  if (source.errors.length > 0) throw new ConfigError(sortIssues(source.errors));
  // A file holding only comments is an empty document: all defaults.
  const result = await platformSchema(defaultPlatformConfig).safeParseAsync(source.value ?? {});
  if (!result.success) throw new ConfigError(sortIssues(toConfigIssues(result.error.issues, source)));
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
