import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigIssue } from './issues.js';
import { defaultPlatformConfig, loadPlatformConfig, PLATFORM_CONFIG_FILE } from './platform-config.js';

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hangar-platform-config-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const y = (...lines: string[]) => `${lines.join('\n')}\n`;

async function write(yaml: string): Promise<string> {
  const file = join(root, `config-${counter++}.yaml`);
  await writeFile(file, yaml);
  return file;
}

async function issuesOf(yaml: string): Promise<ConfigIssue[]> {
  const err = await loadPlatformConfig(await write(yaml)).then(
    () => undefined,
    (e: unknown) => e as { code: string; issues: ConfigIssue[] },
  );
  expect(err?.code).toBe('HANGAR_E_CONFIG_INVALID');
  return [...(err?.issues ?? [])];
}

describe('defaultPlatformConfig', () => {
  it('holds the S15 defaults in ms and bytes', () => {
    expect(defaultPlatformConfig).toEqual({
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
        maxBufferedBytes: 268_435_456,
      },
      sockets: {
        idleTimeoutMs: 600_000,
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
      logs: { retentionMs: 7 * 24 * 3_600_000, maxBytes: 1_073_741_824 },
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
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(defaultPlatformConfig)).toBe(true);
    expect(Object.isFrozen(defaultPlatformConfig.limits)).toBe(true);
    expect(Object.isFrozen(defaultPlatformConfig.sockets.allow)).toBe(true);
  });
});

describe('loadPlatformConfig', () => {
  it('returns the defaults without a file', async () => {
    expect(await loadPlatformConfig()).toBe(defaultPlatformConfig);
    expect(await loadPlatformConfig(undefined, { dataDir: root })).toBe(defaultPlatformConfig);
  });

  it('reads the S15 example file back as the defaults', async () => {
    const file = await write(
      y(
        'limits:',
        '  request_deadline: 60s',
        '  deadline_grace: 1s',
        '  max_request_bytes: 33554432',
        '  max_response_bytes: 33554432',
        '  max_pending_latency: 10s',
        '  drain_timeout: 30s',
        '  max_header_bytes: 16384',
        '  max_header_count: 100',
        '  unresponsive_after: 1s',
        '  header_timeout: 10s',
        '  body_idle_timeout: 30s',
        'sockets:',
        '  idle_timeout: 10m',
        '  allow: []',
        '  blocked: []',
        '  strict: false',
        '  max_open_per_app: 1000',
        'urlfetch: { default_deadline: 5s, max_deadline: 60s, max_request_bytes: 10485760, max_response_bytes: 33554432 }',
        'logs: { retention: 7d, max_bytes: 1GiB }',
        'auth_domain: gmail.com',
        'auth:',
        '  oidc: { issuer: null, client_id: null, client_secret: null }',
        '  admins: []',
        'quotas: { daily: {} }',
      ),
    );
    // The example spells request_deadline out, so it counts as set (basic/manual scaling get it too).
    expect(await loadPlatformConfig(file)).toEqual({
      ...defaultPlatformConfig,
      limits: { ...defaultPlatformConfig.limits, requestDeadlineExplicit: true },
    });
  });

  it('reads the scheduler section', async () => {
    const config = await loadPlatformConfig(
      await write(
        y('scheduler:', '  idle_period: 2s', '  heartbeat_timeout: 500ms', '  start_backoff_max: 5s'),
      ),
    );
    expect(config.scheduler).toEqual({
      idlePeriodMs: 2_000,
      heartbeatIntervalMs: 250,
      heartbeatTimeoutMs: 500,
      startBackoffMaxMs: 5_000,
      startTimeoutMs: 30_000,
      stopTimeoutMs: 2_000,
    });
    expect(config.limits.requestDeadlineExplicit).toBe(false);
  });

  it('reads the start, stop and shutdown timeouts, each in its section; 0 where waiting may be skipped', async () => {
    const config = await loadPlatformConfig(
      await write(
        y(
          'limits:',
          '  shutdown_grace: 0s',
          'sockets:',
          '  start_timeout: 20s',
          '  stop_timeout: 0',
          '  request_timeout: 750ms',
          '  restart_delay: 2500ms',
          'scheduler:',
          '  start_timeout: 1m',
          '  stop_timeout: 5s',
          '  warm_spares: 0',
        ),
      ),
    );
    expect(config.limits).toEqual({ ...defaultPlatformConfig.limits, shutdownGraceMs: 0 });
    expect(config.sockets).toEqual({
      ...defaultPlatformConfig.sockets,
      startTimeoutMs: 20_000,
      stopTimeoutMs: 0,
      requestTimeoutMs: 750,
      restartDelayMs: 2_500,
    });
    expect(config.scheduler).toEqual({
      ...defaultPlatformConfig.scheduler,
      startTimeoutMs: 60_000,
      stopTimeoutMs: 5_000,
      warmSpares: 0,
    });
    // Unset, it is the mode's default (serve 1, dev 0), decided where the platform starts.
    expect(defaultPlatformConfig.scheduler.warmSpares).toBeUndefined();
  });

  it('merges a partial file over the defaults, in ms and bytes, frozen', async () => {
    const config = await loadPlatformConfig(
      await write(
        y(
          '# only what differs',
          'limits:',
          '  request_deadline: 2m',
          '  max_request_bytes: 8MiB',
          'sockets:',
          '  allow: ["db.internal:5432", "10.1.0.0/16:443", "[::1]:8080"]',
          '  blocked: [192.168.0.0/16, "fd00::/8", 203.0.113.7]',
          '  strict: true',
          'urlfetch:',
          '  default_deadline: 1500ms',
          'auth_domain: example.com',
          'auth:',
          '  oidc:',
          '    issuer: https://accounts.example.com',
          '    client_id: hangar',
          '    client_secret: s3cret',
          '  admins: [Ops@Example.com]',
          'quotas:',
          '  daily:',
          '    requests: 100000',
          '    outgoing_bytes: 1GiB',
          '    instance_hours: 28.5',
        ),
      ),
    );
    expect(config.limits).toEqual({
      ...defaultPlatformConfig.limits,
      requestDeadlineMs: 120_000,
      requestDeadlineExplicit: true,
      maxRequestBytes: 8 * 1024 ** 2,
    });
    expect(config.sockets).toEqual({
      ...defaultPlatformConfig.sockets,
      allow: ['db.internal:5432', '10.1.0.0/16:443', '[::1]:8080'],
      blocked: ['192.168.0.0/16', 'fd00::/8', '203.0.113.7'],
      strict: true,
    });
    expect(config.urlfetch.defaultDeadlineMs).toBe(1500);
    expect(config.authDomain).toBe('example.com');
    expect(config.auth).toEqual({
      oidc: { issuer: 'https://accounts.example.com', clientId: 'hangar', clientSecret: 's3cret' },
      admins: ['ops@example.com'],
    });
    expect(config.quotas.daily).toEqual({
      requests: 100_000,
      outgoing_bytes: 1024 ** 3,
      instance_hours: 28.5,
    });
    expect(Object.isFrozen(config.sockets.allow)).toBe(true);
    expect(Object.isFrozen(config.quotas.daily)).toBe(true);
  });

  it('reads the slow-client and connection limits of the front end', async () => {
    const config = await loadPlatformConfig(
      await write(
        y(
          'limits:',
          '  unresponsive_after: 1500ms',
          '  header_timeout: 300ms',
          '  body_idle_timeout: 2s',
          '  max_connections: 50',
          '  max_connections_per_client: 3',
          '  max_buffered_bytes: 64MiB',
        ),
      ),
    );
    expect(config.limits).toEqual({
      ...defaultPlatformConfig.limits,
      unresponsiveAfterMs: 1_500,
      headerTimeoutMs: 300,
      bodyIdleTimeoutMs: 2_000,
      maxConnections: 50,
      maxConnectionsPerClient: 3,
      maxBufferedBytes: 64 * 1024 ** 2,
    });
    // Per client up to the whole listener's cap is fine.
    const equal = await loadPlatformConfig(
      await write(y('limits:', '  max_connections: 8', '  max_connections_per_client: 8')),
    );
    expect(equal.limits.maxConnectionsPerClient).toBe(8);
  });

  it('reads runtimes: Node executables by runtime name', async () => {
    const config = await loadPlatformConfig(
      await write(y('runtimes:', `  nodejs24: ${process.execPath}`, `  nodejs18: ${process.execPath}`)),
    );
    expect(config.runtimes).toEqual({ nodejs24: process.execPath, nodejs18: process.execPath });
    expect(Object.isFrozen(config.runtimes)).toBe(true);
  });

  it('treats a file of comments as all defaults', async () => {
    expect(await loadPlatformConfig(await write('# nothing yet\n'))).toEqual(defaultPlatformConfig);
  });

  it('finds hangar.config.yaml in the data dir', async () => {
    const dataDir = await mkdtemp(join(root, 'data-'));
    await writeFile(join(dataDir, PLATFORM_CONFIG_FILE), 'auth_domain: corp.example\n');
    expect((await loadPlatformConfig(undefined, { dataDir })).authDomain).toBe('corp.example');
  });

  it('says so when an explicit file is missing, naming where its path came from', async () => {
    await expect(loadPlatformConfig(join(root, 'missing.yaml'))).rejects.toMatchObject({
      code: 'HANGAR_E_CONFIG_NOT_FOUND',
      message: expect.stringContaining('check the --config path, or leave --config out'),
    });
    await expect(
      loadPlatformConfig(join(root, 'missing.yaml'), { dataDir: root, givenBy: 'HANGAR_CONFIG' }),
    ).rejects.toMatchObject({
      code: 'HANGAR_E_CONFIG_NOT_FOUND',
      message: expect.stringContaining('check the HANGAR_CONFIG path, or leave HANGAR_CONFIG out'),
    });
  });

  // biome-ignore format: one row per rule reads as a table
  const invalid: Array<{ rule: string; yaml: string; field: string; line: number; message: string }> = [
    { rule: 'unknown top-level key', yaml: y('limits: {}', 'limit: {}'), field: 'limit', line: 2, message: "unknown key 'limit' (did you mean 'limits'?)" },
    { rule: 'unknown section key', yaml: y('limits:', '  request_deadline: 30s', '  request_timeout: 30s'), field: 'limits.request_timeout', line: 3, message: "unknown key 'request_timeout'" },
    { rule: 'section type', yaml: y('sockets: 5'), field: 'sockets', line: 1, message: 'must be a mapping, not 5' },
    { rule: 'duration format', yaml: y('limits:', '  drain_timeout: 30 seconds'), field: 'limits.drain_timeout', line: 2, message: 'is not a duration' },
    { rule: 'zero deadline', yaml: y('limits:', '  request_deadline: 0s'), field: 'limits.request_deadline', line: 2, message: 'must be at least 1ms' },
    { rule: 'size format', yaml: y('logs:', '  retention: 7d', '  max_bytes: 1 gigabyte'), field: 'logs.max_bytes', line: 3, message: 'is not a size' },
    { rule: 'zero size', yaml: y('urlfetch:', '  max_request_bytes: 0'), field: 'urlfetch.max_request_bytes', line: 2, message: 'must be greater than 0' },
    { rule: 'zero instance start timeout', yaml: y('scheduler:', '  start_timeout: 0s'), field: 'scheduler.start_timeout', line: 2, message: 'must be at least 1ms' },
    { rule: 'zero socket request timeout', yaml: y('sockets:', '  request_timeout: 0'), field: 'sockets.request_timeout', line: 2, message: 'must be at least 1ms' },
    { rule: 'zero socket service start timeout', yaml: y('sockets:', '  start_timeout: 0ms'), field: 'sockets.start_timeout', line: 2, message: 'must be at least 1ms' },
    { rule: 'stop timeout format', yaml: y('scheduler:', '  stop_timeout: two seconds'), field: 'scheduler.stop_timeout', line: 2, message: 'is not a duration' },
    { rule: 'too many warm spares', yaml: y('scheduler:', '  warm_spares: 17'), field: 'scheduler.warm_spares', line: 2, message: 'must be from 0 to 16' },
    { rule: 'negative restart delay', yaml: y('sockets:', '  restart_delay: -1s'), field: 'sockets.restart_delay', line: 2, message: 'is not a duration' },
    { rule: 'shutdown grace type', yaml: y('limits:', '  shutdown_grace: [1s]'), field: 'limits.shutdown_grace', line: 2, message: 'must be a duration' },
    { rule: 'zero unresponsive_after', yaml: y('limits:', '  unresponsive_after: 0s'), field: 'limits.unresponsive_after', line: 2, message: 'must be at least 1ms' },
    { rule: 'zero header timeout', yaml: y('limits:', '  header_timeout: 0'), field: 'limits.header_timeout', line: 2, message: 'must be at least 1ms' },
    { rule: 'body idle timeout format', yaml: y('limits:', '  body_idle_timeout: half a minute'), field: 'limits.body_idle_timeout', line: 2, message: 'is not a duration' },
    { rule: 'zero connections', yaml: y('limits:', '  max_connections: 0'), field: 'limits.max_connections', line: 2, message: 'must be from 1 to 1000000' },
    { rule: 'fractional connections per client', yaml: y('limits:', '  max_connections_per_client: 2.5'), field: 'limits.max_connections_per_client', line: 2, message: 'must be a whole number' },
    { rule: 'per-client cap above the cap', yaml: y('limits:', '  max_connections_per_client: 20000'), field: 'limits.max_connections_per_client', line: 2, message: 'is more than max_connections (10000, the default)' },
    { rule: 'per-client cap above a set cap', yaml: y('limits:', '  max_connections: 10', '  max_connections_per_client: 11'), field: 'limits.max_connections_per_client', line: 3, message: 'is more than max_connections (10)' },
    { rule: 'zero buffered bytes', yaml: y('limits:', '  max_buffered_bytes: 0'), field: 'limits.max_buffered_bytes', line: 2, message: 'must be greater than 0' },
    { rule: 'buffered bytes format', yaml: y('limits:', '  max_buffered_bytes: lots'), field: 'limits.max_buffered_bytes', line: 2, message: 'is not a size' },
    { rule: 'header count', yaml: y('limits:', '  max_header_count: 0'), field: 'limits.max_header_count', line: 2, message: 'must be from 1 to 10000' },
    { rule: 'strict type', yaml: y('sockets:', '  strict: on'), field: 'sockets.strict', line: 2, message: "must be true or false, not 'on'" },
    { rule: 'allow entry', yaml: y('sockets:', '  allow:', '  - db.internal:5432', '  - db.internal'), field: 'sockets.allow[1]', line: 4, message: 'does not end in a port' },
    { rule: 'allow cidr', yaml: y('sockets:', '  allow: ["10.0.0.0/33:443"]'), field: 'sockets.allow[0]', line: 2, message: 'is not a CIDR range' },
    { rule: 'blocked entry', yaml: y('sockets:', '  blocked: [intranet]'), field: 'sockets.blocked[0]', line: 2, message: 'is not an IP address or CIDR range' },
    { rule: 'default above max deadline', yaml: y('urlfetch:', '  default_deadline: 90s'), field: 'urlfetch.default_deadline', line: 2, message: 'is longer than max_deadline (60000ms, the default)' },
    { rule: 'oidc issuer not a URL', yaml: y('auth:', '  oidc:', '    issuer: accounts', '    client_id: x'), field: 'auth.oidc.issuer', line: 3, message: "'accounts' is not a URL" },
    { rule: 'oidc issuer over http', yaml: y('auth:', '  oidc:', '    issuer: http://idp.example.com', '    client_id: x'), field: 'auth.oidc.issuer', line: 3, message: 'is not https (plain http is accepted only on a loopback host)' },
    { rule: 'oidc issuer without client', yaml: y('auth:', '  oidc:', '    issuer: https://idp.example.com'), field: 'auth.oidc.client_id', line: 2, message: 'auth.oidc has an issuer but no client_id' },
    { rule: 'oidc empty client id', yaml: y('auth:', '  oidc:', '    issuer: https://idp.example.com', '    client_id: ""'), field: 'auth.oidc.client_id', line: 4, message: 'must be a non-empty string' },
    { rule: 'admins entry', yaml: y('auth:', '  admins: [ops@example.com, ops]'), field: 'auth.admins[1]', line: 2, message: "'ops' is not an email address" },
    { rule: 'unknown auth key', yaml: y('auth:', '  oidcs: {}'), field: 'auth.oidcs', line: 2, message: "unknown key 'oidcs'" },
    { rule: 'auth_domain', yaml: y('auth_domain: "not a domain"'), field: 'auth_domain', line: 1, message: 'must be a domain name' },
    { rule: 'unknown quota', yaml: y('quotas:', '  daily:', '    request: 10'), field: 'quotas.daily.request', line: 3, message: "unknown key 'request' (did you mean 'requests'?)" },
    { rule: 'quota value', yaml: y('quotas:', '  daily:', '    requests: lots'), field: 'quotas.daily.requests', line: 3, message: 'must be a whole number' },
    { rule: 'runtime name', yaml: y('runtimes:', `  nodejs: ${process.execPath}`), field: 'runtimes.nodejs', line: 2, message: "unknown key 'nodejs'" },
    { rule: 'runtime path relative', yaml: y('runtimes:', '  nodejs24: bin/node'), field: 'runtimes.nodejs24', line: 2, message: "'bin/node' is not an absolute path" },
    { rule: 'runtime path missing', yaml: y('limits: {}', 'runtimes:', '  nodejs22: /nonexistent/node-v22/bin/node'), field: 'runtimes.nodejs22', line: 3, message: "'/nonexistent/node-v22/bin/node' does not exist" },
    { rule: 'runtime path a directory', yaml: y('runtimes:', '  nodejs22: /'), field: 'runtimes.nodejs22', line: 2, message: "'/' is not a file" },
    { rule: 'runtime path type', yaml: y('runtimes:', '  nodejs22: [a]'), field: 'runtimes.nodejs22', line: 2, message: 'must be a path, not a list' },
    { rule: 'YAML syntax', yaml: y('limits:', '  request_deadline: 60s', '\tdrain_timeout: 5s'), field: 'limits.request_deadline', line: 3, message: 'invalid YAML: tabs' },
    { rule: 'duplicate key', yaml: y('limits:', '  request_deadline: 60s', '  request_deadline: 30s'), field: 'limits.request_deadline', line: 3, message: 'duplicate key' },
    { rule: 'top level', yaml: y('- limits'), field: '', line: 1, message: 'must be a mapping, not a list' },
  ];

  it.each(invalid)('rejects: $rule', async ({ yaml, field, line, message }) => {
    const issues = await issuesOf(yaml);
    const issue = issues.find((i) => i.field === field);
    expect(issue, JSON.stringify(issues, null, 2)).toBeDefined();
    expect(issue?.line).toBe(line);
    expect(issue?.message).toContain(message);
    expect(issue?.fix.length).toBeGreaterThan(5);
  });

  it('reports every problem in one error', async () => {
    const issues = await issuesOf(
      y('limits:', '  request_deadline: soon', 'logs:', '  max_bytes: huge', 'extra: 1'),
    );
    expect(issues.map((i) => `${i.line}:${i.field}`)).toEqual([
      '2:limits.request_deadline',
      '4:logs.max_bytes',
      '5:extra',
    ]);
  });
});
