/**
 * The platform config schema (SPEC S15): every key optional, unknown keys rejected, each
 * value in its unit; the result is merged over `defaults`.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import type { z } from 'zod';
import { RUNTIMES } from './app-schema.js';
import { parseSize } from './durations.js';
import { DAILY_QUOTA_NAMES } from './quota-names.js';
import {
  checkWhole,
  convert,
  describeValue,
  duration,
  FieldProblem,
  flag,
  problem,
  size,
  wholeNumber,
} from './schema-kit.js';
import { everywhere, isClean, mapping } from './schema-mapping.js';
import type { PlatformConfig, VersionedRuntimeName } from './types.js';

/** Daily quota names (S10); values ending in `_bytes` are sizes, the rest counts. */
export { DAILY_QUOTA_NAMES } from './quota-names.js';

const DURATION_FIX = 'write a duration such as 500ms, 30s, 10m, 2h or 7d';
const SIZE_FIX = 'write bytes or a size such as 16KiB, 32MiB or 1GiB';

const positiveDuration = () => duration(DURATION_FIX, { minMs: 1 });
const anyDuration = () => duration(DURATION_FIX);
const positiveSize = () =>
  size(SIZE_FIX).refine((n) => n > 0, { error: problem('must be greater than 0', SIZE_FIX) });

/** `host:port`, `ip:port` or `cidr:port` (IPv6 addresses may be bracketed: `[::1]:443`). */
export function checkAllowEntry(entry: string): string {
  const fix =
    'write host:port, ip:port or cidr:port, e.g. db.internal:5432, 10.0.0.5:6379 or 10.1.0.0/16:443';
  const match = /^(.+):(\d{1,5})$/.exec(entry);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535)
    throw new FieldProblem(`'${entry}' does not end in a port 1-65535`, fix);
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  if (host.includes('/')) checkCidr(host, fix);
  else if (isIP(host) === 0 && !/^(?=.{1,253}$)([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$/.test(host)) {
    throw new FieldProblem(`'${match[1]}' is not a host name, IP address or CIDR range`, fix);
  }
  return entry;
}

/** A CIDR range (`10.0.0.0/8`, `fd00::/8`) or a single address. */
export function checkBlockedEntry(entry: string): string {
  const fix = 'write a CIDR range such as 10.0.0.0/8 or fd00::/8, or a single IP address';
  if (entry.includes('/')) checkCidr(entry, fix);
  else if (isIP(entry) === 0) throw new FieldProblem(`'${entry}' is not an IP address or CIDR range`, fix);
  return entry;
}

function checkCidr(cidr: string, fix: string): void {
  const [address = '', prefix = ''] = cidr.split('/');
  const family = isIP(address);
  const bits = family === 4 ? 32 : 128;
  if (family === 0 || !/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) {
    throw new FieldProblem(`'${cidr}' is not a CIDR range`, fix);
  }
}

function stringList(check: (entry: string) => string, fix: string) {
  return convert((value, report) => {
    if (!Array.isArray(value)) throw new FieldProblem(`must be a list, not ${describeValue(value)}`, fix);
    const out: string[] = [];
    for (const [i, entry] of value.entries()) {
      try {
        if (typeof entry !== 'string')
          throw new FieldProblem(`must be a string, not ${describeValue(entry)}`, fix);
        out.push(check(entry));
      } catch (err) {
        if (!(err instanceof FieldProblem)) throw err;
        report(err.message, err.fix, [i]);
      }
    }
    return out;
  });
}

const quotaValue = (name: string) =>
  convert((value) => {
    const fix = name.endsWith('_bytes') ? SIZE_FIX : 'write a count, e.g. 100000';
    if (name.endsWith('_bytes') && (typeof value === 'string' || typeof value === 'number')) {
      try {
        return parseSize(value);
      } catch (err) {
        throw new FieldProblem((err as Error).message, fix);
      }
    }
    if (name === 'instance_hours' && typeof value === 'number' && value >= 0) return value;
    return checkWhole(value, 0, Number.MAX_SAFE_INTEGER, fix);
  });

const dailyQuotas = mapping(
  Object.fromEntries(DAILY_QUOTA_NAMES.map((name) => [name, quotaValue(name).optional()])),
  'quotas.daily',
  'write quotas.daily as name: limit lines, e.g. requests: 100000',
);

/** The runtimes a `runtimes:` key may name: every one but `nodejs`, which is the newest at hand. */
const VERSIONED_RUNTIMES = RUNTIMES.filter((r): r is VersionedRuntimeName => r !== 'nodejs');

/**
 * `runtimes.nodejsNN`: an absolute path to an executable file. Whether it is Node NN is checked
 * when a version first needs it (by running it, src/versions/node-runtimes.ts); that it is there
 * is checked here, so a typo is reported with its line.
 */
const nodeExecutable = (runtime: string) =>
  convert((value) => {
    const major = runtime.slice('nodejs'.length);
    const fix = `write the absolute path of a Node ${major} executable, e.g. ${runtime}: /opt/node-v${major}/bin/node`;
    if (typeof value !== 'string' || value.trim() === '')
      throw new FieldProblem(`must be a path, not ${describeValue(value)}`, fix);
    if (!isAbsolute(value)) throw new FieldProblem(`'${value}' is not an absolute path`, fix);
    const info = statSync(value, { throwIfNoEntry: false });
    if (!info) throw new FieldProblem(`'${value}' does not exist`, fix);
    if (!info.isFile()) throw new FieldProblem(`'${value}' is not a file`, fix);
    try {
      accessSync(value, constants.X_OK);
    } catch {
      throw new FieldProblem(`'${value}' is not executable`, `${fix}; or chmod +x it`);
    }
    return value;
  });

const runtimes = mapping(
  Object.fromEntries(VERSIONED_RUNTIMES.map((runtime) => [runtime, nodeExecutable(runtime).optional()])),
  'runtimes',
  'write runtimes as runtime: path lines, e.g. nodejs24: /opt/node-v24/bin/node',
);

/** An email address, as `auth.admins` lists them (compared without regard to case). */
function checkEmail(entry: string): string {
  if (/^[^\s@]+@[^\s@]+$/.test(entry) && entry.length <= 254) return entry.toLowerCase();
  throw new FieldProblem(`'${entry}' is not an email address`, 'write e.g. admins: [ops@example.com]');
}

/**
 * `auth.oidc.issuer`: the provider's URL, over HTTPS; plain HTTP only on a loopback host (a
 * provider on this machine, as in tests), since the ID token and the client secret travel on it.
 */
const issuerUrl = convert((value) => {
  const fix = "write the provider's issuer URL, e.g. issuer: https://accounts.google.com";
  if (typeof value !== 'string') throw new FieldProblem(`must be a URL, not ${describeValue(value)}`, fix);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new FieldProblem(`'${value}' is not a URL`, fix);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new FieldProblem(`'${value}' is not https (plain http is accepted only on a loopback host)`, fix);
  return value;
});

const nonEmpty = (fix: string) =>
  convert((value) => {
    if (typeof value === 'string' && value.trim() !== '') return value;
    throw new FieldProblem(`must be a non-empty string, not ${describeValue(value)}`, fix);
  });

const section = <S extends z.ZodRawShape>(name: string, shape: S) =>
  mapping(shape, name, `write ${name} as a mapping of its keys`).optional();

/** The platform config file, merged over `defaults`. */
export function platformSchema(defaults: PlatformConfig) {
  return mapping(
    {
      limits: section('limits', {
        request_deadline: positiveDuration().optional(),
        deadline_grace: anyDuration().optional(),
        max_request_bytes: positiveSize().optional(),
        max_response_bytes: positiveSize().optional(),
        max_pending_latency: positiveDuration().optional(),
        drain_timeout: anyDuration().optional(),
        max_header_bytes: positiveSize().optional(),
        max_header_count: wholeNumber(1, 10_000, 'use a whole number from 1 to 10000').optional(),
        shutdown_grace: anyDuration().optional(),
        unresponsive_after: positiveDuration().optional(),
        header_timeout: positiveDuration().optional(),
        body_idle_timeout: positiveDuration().optional(),
        max_connections: wholeNumber(1, 1_000_000, 'use a whole number from 1 to 1000000').optional(),
        max_connections_per_client: wholeNumber(
          1,
          1_000_000,
          'use a whole number from 1 to 1000000',
        ).optional(),
        max_buffered_bytes: positiveSize().optional(),
      }),
      sockets: section('sockets', {
        idle_timeout: positiveDuration().optional(),
        allow: stringList(
          checkAllowEntry,
          'write allow as a list of host:port, ip:port or cidr:port',
        ).optional(),
        blocked: stringList(checkBlockedEntry, 'write blocked as a list of CIDR ranges').optional(),
        strict: flag('write strict: true or strict: false').optional(),
        max_open_per_app: wholeNumber(1, 1_000_000, 'use a whole number of at least 1').optional(),
        start_timeout: positiveDuration().optional(),
        stop_timeout: anyDuration().optional(),
        request_timeout: positiveDuration().optional(),
        restart_delay: anyDuration().optional(),
      }),
      urlfetch: section('urlfetch', {
        default_deadline: positiveDuration().optional(),
        max_deadline: positiveDuration().optional(),
        max_request_bytes: positiveSize().optional(),
        max_response_bytes: positiveSize().optional(),
      }),
      logs: section('logs', {
        retention: positiveDuration().optional(),
        max_bytes: positiveSize().optional(),
      }),
      scheduler: section('scheduler', {
        idle_period: positiveDuration().optional(),
        heartbeat_interval: positiveDuration().optional(),
        heartbeat_timeout: positiveDuration().optional(),
        start_backoff_max: positiveDuration().optional(),
        start_timeout: positiveDuration().optional(),
        stop_timeout: anyDuration().optional(),
        warm_spares: wholeNumber(0, 16, 'use a whole number from 0 (no warm spare) to 16').optional(),
      }),
      auth_domain: convert((value) => {
        if (typeof value === 'string' && /^(?=.{1,253}$)([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$/.test(value))
          return value;
        throw new FieldProblem(
          `must be a domain name, not ${describeValue(value)}`,
          'write e.g. auth_domain: example.com',
        );
      }).optional(),
      auth: section('auth', {
        oidc: section('auth.oidc', {
          issuer: issuerUrl.nullable().optional(),
          client_id: nonEmpty('write the client id the provider gave this platform').nullable().optional(),
          client_secret: nonEmpty('write the client secret the provider gave this platform')
            .nullable()
            .optional(),
        }),
        admins: stringList(checkEmail, 'write admins as a list of email addresses').optional(),
      }),
      quotas: section('quotas', { daily: dailyQuotas.optional() }),
      runtimes: runtimes.optional(),
    },
    'the platform config',
    'write the platform config as a mapping with limits, sockets, urlfetch, logs, scheduler, auth_domain, auth, quotas, runtimes',
  )
    .superRefine(
      (c, ctx) => {
        const oidc = c.auth?.oidc;
        if (!oidc?.issuer || !isClean(ctx, ['auth'])) return;
        if (oidc.client_id) return;
        ctx.addIssue({
          code: 'custom',
          path: ['auth', 'oidc', 'client_id'],
          message: problem(
            'auth.oidc has an issuer but no client_id',
            'register this platform with the provider and write the client_id (and client_secret) it gives',
          ),
        });
      },
      { when: everywhere },
    )
    .superRefine(
      (c, ctx) => {
        const urlfetch = c.urlfetch;
        if (!urlfetch || !isClean(ctx, ['urlfetch'])) return;
        const max = urlfetch.max_deadline ?? defaults.urlfetch.maxDeadlineMs;
        const given = urlfetch.default_deadline;
        if (given === undefined || given <= max) return;
        ctx.addIssue({
          code: 'custom',
          path: ['urlfetch', 'default_deadline'],
          message: problem(
            `default_deadline (${given}ms) is longer than max_deadline (${max}ms${urlfetch.max_deadline === undefined ? ', the default' : ''})`,
            'lower default_deadline or raise max_deadline',
          ),
        });
      },
      { when: everywhere },
    )
    .superRefine(
      (c, ctx) => {
        const limits = c.limits;
        if (!limits || !isClean(ctx, ['limits'])) return;
        const max = limits.max_connections ?? defaults.limits.maxConnections;
        const given = limits.max_connections_per_client;
        if (given === undefined || given <= max) return;
        ctx.addIssue({
          code: 'custom',
          path: ['limits', 'max_connections_per_client'],
          message: problem(
            `max_connections_per_client (${given}) is more than max_connections (${max}${limits.max_connections === undefined ? ', the default' : ''})`,
            'lower max_connections_per_client or raise max_connections',
          ),
        });
      },
      { when: everywhere },
    )
    .transform((c): PlatformConfig => {
      const d = defaults;
      const l = c.limits ?? {};
      const s = c.sockets ?? {};
      const u = c.urlfetch ?? {};
      const g = c.logs ?? {};
      const k = c.scheduler ?? {};
      const daily = Object.fromEntries(
        Object.entries(c.quotas?.daily ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number'),
      );
      return {
        limits: {
          requestDeadlineMs: l.request_deadline ?? d.limits.requestDeadlineMs,
          requestDeadlineExplicit: l.request_deadline !== undefined,
          deadlineGraceMs: l.deadline_grace ?? d.limits.deadlineGraceMs,
          maxRequestBytes: l.max_request_bytes ?? d.limits.maxRequestBytes,
          maxResponseBytes: l.max_response_bytes ?? d.limits.maxResponseBytes,
          maxPendingLatencyMs: l.max_pending_latency ?? d.limits.maxPendingLatencyMs,
          drainTimeoutMs: l.drain_timeout ?? d.limits.drainTimeoutMs,
          maxHeaderBytes: l.max_header_bytes ?? d.limits.maxHeaderBytes,
          maxHeaderCount: l.max_header_count ?? d.limits.maxHeaderCount,
          shutdownGraceMs: l.shutdown_grace ?? d.limits.shutdownGraceMs,
          unresponsiveAfterMs: l.unresponsive_after ?? d.limits.unresponsiveAfterMs,
          headerTimeoutMs: l.header_timeout ?? d.limits.headerTimeoutMs,
          bodyIdleTimeoutMs: l.body_idle_timeout ?? d.limits.bodyIdleTimeoutMs,
          maxConnections: l.max_connections ?? d.limits.maxConnections,
          maxConnectionsPerClient: l.max_connections_per_client ?? d.limits.maxConnectionsPerClient,
          maxBufferedBytes: l.max_buffered_bytes ?? d.limits.maxBufferedBytes,
        },
        sockets: {
          idleTimeoutMs: s.idle_timeout ?? d.sockets.idleTimeoutMs,
          allow: s.allow ?? [...d.sockets.allow],
          blocked: s.blocked ?? [...d.sockets.blocked],
          strict: s.strict ?? d.sockets.strict,
          maxOpenPerApp: s.max_open_per_app ?? d.sockets.maxOpenPerApp,
          startTimeoutMs: s.start_timeout ?? d.sockets.startTimeoutMs,
          stopTimeoutMs: s.stop_timeout ?? d.sockets.stopTimeoutMs,
          requestTimeoutMs: s.request_timeout ?? d.sockets.requestTimeoutMs,
          restartDelayMs: s.restart_delay ?? d.sockets.restartDelayMs,
        },
        urlfetch: {
          defaultDeadlineMs: u.default_deadline ?? d.urlfetch.defaultDeadlineMs,
          maxDeadlineMs: u.max_deadline ?? d.urlfetch.maxDeadlineMs,
          maxRequestBytes: u.max_request_bytes ?? d.urlfetch.maxRequestBytes,
          maxResponseBytes: u.max_response_bytes ?? d.urlfetch.maxResponseBytes,
        },
        logs: {
          retentionMs: g.retention ?? d.logs.retentionMs,
          maxBytes: g.max_bytes ?? d.logs.maxBytes,
        },
        scheduler: {
          idlePeriodMs: k.idle_period ?? d.scheduler.idlePeriodMs,
          heartbeatIntervalMs: k.heartbeat_interval ?? d.scheduler.heartbeatIntervalMs,
          heartbeatTimeoutMs: k.heartbeat_timeout ?? d.scheduler.heartbeatTimeoutMs,
          startBackoffMaxMs: k.start_backoff_max ?? d.scheduler.startBackoffMaxMs,
          startTimeoutMs: k.start_timeout ?? d.scheduler.startTimeoutMs,
          stopTimeoutMs: k.stop_timeout ?? d.scheduler.stopTimeoutMs,
          ...(k.warm_spares === undefined ? {} : { warmSpares: k.warm_spares }),
        },
        authDomain: c.auth_domain ?? d.authDomain,
        auth: {
          oidc:
            c.auth?.oidc?.issuer && c.auth.oidc.client_id
              ? {
                  issuer: c.auth.oidc.issuer,
                  clientId: c.auth.oidc.client_id,
                  ...(c.auth.oidc.client_secret ? { clientSecret: c.auth.oidc.client_secret } : {}),
                }
              : undefined,
          admins: c.auth?.admins ?? [...d.auth.admins],
        },
        quotas: { daily: { ...d.quotas.daily, ...daily } },
        runtimes: {
          ...d.runtimes,
          ...Object.fromEntries(
            Object.entries(c.runtimes ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
          ),
        },
      };
    });
}
