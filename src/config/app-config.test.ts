import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entrypointCommand, loadAppConfig } from './app-config.js';
import type { ConfigIssue } from './issues.js';
import type { AppConfig, Handler } from './types.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hangar-app-config-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Lines of YAML, so that each row's line numbers can be read off the source. */
const y = (...lines: string[]) => `${lines.join('\n')}\n`;

/** Every app gets these unless a row overrides them. */
const DEFAULT_FILES: Record<string, string> = {
  'main.ts': 'export const app = () => new Response("hi");\n',
  'static/site.css': 'body {}\n',
  'cgi.sh': '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho hi\n',
  'errors/quota.html': '<p>over quota</p>\n',
};

async function makeApp(yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(root, 'app-'));
  for (const [path, content] of Object.entries({ ...DEFAULT_FILES, ...files, 'app.yaml': yaml })) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

async function load(yaml: string, files?: Record<string, string>): Promise<AppConfig> {
  return loadAppConfig(await makeApp(yaml, files));
}

async function issuesOf(yaml: string, files?: Record<string, string>): Promise<ConfigIssue[]> {
  try {
    await load(yaml, files);
  } catch (err) {
    expect(err).toMatchObject({ code: 'HANGAR_E_CONFIG_INVALID' });
    return [...(err as { issues: ConfigIssue[] }).issues];
  }
  throw new Error('expected the app.yaml to be rejected');
}

const HANDLERS = ['handlers:', '- url: /.*', '  script: main.app'];

interface Row {
  rule: string;
  yaml: string;
  files?: Record<string, string>;
  field: string;
  line: number;
  message: string;
}

// One row per S3 rule. `line` is where the offending key (or list item) is written.
// biome-ignore format: one row per rule reads as a table
const invalid: Row[] = [
  // YAML itself
  { rule: 'YAML syntax', yaml: y('runtime: nodejs22', 'handlers: [', '- url: /'), field: 'handlers', line: 3, message: 'invalid YAML' },
  { rule: 'tab indentation', yaml: y('runtime: nodejs22', 'handlers:', '\t- url: /'), field: 'handlers', line: 3, message: 'tabs' },
  { rule: 'duplicate key', yaml: y('runtime: nodejs22', 'runtime: nodejs20', ...HANDLERS), field: 'runtime', line: 2, message: "duplicate key 'runtime'" },
  { rule: 'top level is a list', yaml: y('- runtime: nodejs22'), field: '', line: 1, message: 'must be a mapping, not a list' },
  { rule: 'empty file', yaml: '', field: '', line: 1, message: 'must be a mapping, not empty' },
  { rule: 'unknown top-level key', yaml: y('runtime: nodejs22', ...HANDLERS, 'handler: x'), field: 'handler', line: 5, message: "unknown key 'handler' (did you mean 'handlers'?)" },
  { rule: 'unknown handler key', yaml: y('runtime: nodejs22', ...HANDLERS, '  position: head'), field: 'handlers[0].position', line: 5, message: "unknown key 'position'" },
  // names
  { rule: 'application name', yaml: y('application: My_App', 'runtime: nodejs22', ...HANDLERS), field: 'application', line: 1, message: 'not a valid application id' },
  { rule: 'service and module', yaml: y('service: api', 'module: api', 'runtime: nodejs22', ...HANDLERS), field: 'module', line: 2, message: 'cannot be set together with service' },
  { rule: 'service name', yaml: y('runtime: nodejs22', 'service: My_Service', ...HANDLERS), field: 'service', line: 2, message: 'not a valid service name' },
  { rule: 'service -dot-', yaml: y('runtime: nodejs22', 'service: a-dot-b', ...HANDLERS), field: 'service', line: 2, message: "must not contain '-dot-'" },
  { rule: 'version name', yaml: y('runtime: nodejs22', 'version: V1', ...HANDLERS), field: 'version', line: 2, message: 'not a valid version name' },
  { rule: 'version too long', yaml: y('runtime: nodejs22', `version: ${'a'.repeat(64)}`, ...HANDLERS), field: 'version', line: 2, message: 'not a valid version name' },
  { rule: 'version ah-', yaml: y('runtime: nodejs22', 'version: ah-builtin', ...HANDLERS), field: 'version', line: 2, message: "must not start with 'ah-'" },
  { rule: 'version default', yaml: y('runtime: nodejs22', 'version: default', ...HANDLERS), field: 'version', line: 2, message: 'reserved version name' },
  { rule: 'version latest', yaml: y('runtime: nodejs22', 'version: latest', ...HANDLERS), field: 'version', line: 2, message: 'reserved version name' },
  { rule: 'version -dot-', yaml: y('runtime: nodejs22', 'version: v1-dot-2', ...HANDLERS), field: 'version', line: 2, message: "must not contain '-dot-'" },
  // runtime, threadsafe, entrypoint
  { rule: 'runtime required', yaml: y('service: api', ...HANDLERS), field: 'runtime', line: 1, message: 'is required' },
  { rule: 'runtime value', yaml: y('runtime: python27', ...HANDLERS), field: 'runtime', line: 1, message: 'must be one of nodejs, nodejs18, nodejs20, nodejs22, nodejs24, nodejs26' },
  { rule: 'threadsafe type', yaml: y('runtime: nodejs22', 'threadsafe: yes', ...HANDLERS), field: 'threadsafe', line: 2, message: "must be true or false, not 'yes'" },
  { rule: 'threadsafe with CGI', yaml: y('runtime: nodejs22', 'threadsafe: true', 'handlers:', '- url: /cgi', '  script: cgi.sh'), field: 'threadsafe', line: 2, message: 'threadsafe cannot be enabled with CGI handler: cgi.sh' },
  { rule: 'entrypoint empty', yaml: y('runtime: nodejs22', "entrypoint: ''", ...HANDLERS), field: 'entrypoint', line: 2, message: 'must not be empty' },
  // instance class and scaling
  { rule: 'instance_class value', yaml: y('runtime: nodejs22', 'instance_class: F8', ...HANDLERS), field: 'instance_class', line: 2, message: 'must be one of F1, F2' },
  { rule: 'B class with automatic scaling', yaml: y('runtime: nodejs22', 'instance_class: B2', ...HANDLERS), field: 'instance_class', line: 2, message: 'uses automatic scaling (the default)' },
  { rule: 'F class with basic scaling', yaml: y('runtime: nodejs22', 'instance_class: F2', 'basic_scaling:', '  max_instances: 2', ...HANDLERS), field: 'instance_class', line: 2, message: 'uses basic_scaling' },
  { rule: 'two scaling blocks', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  max_instances: 2', 'manual_scaling:', '  instances: 1', ...HANDLERS), field: 'manual_scaling', line: 4, message: 'cannot be combined with automatic_scaling' },
  { rule: 'automatic_scaling unknown key', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  target_cpu_utilization: 0.6', ...HANDLERS), field: 'automatic_scaling.target_cpu_utilization', line: 3, message: 'unknown key' },
  { rule: 'max_instances whole number', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  max_instances: 2.5', ...HANDLERS), field: 'automatic_scaling.max_instances', line: 3, message: 'must be a whole number' },
  { rule: 'min_idle_instances', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  min_idle_instances: lots', ...HANDLERS), field: 'automatic_scaling.min_idle_instances', line: 3, message: "must be a whole number from 0 to 1000, not 'lots'" },
  { rule: 'target_throughput_utilization range', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  target_throughput_utilization: 0.99', ...HANDLERS), field: 'automatic_scaling.target_throughput_utilization', line: 3, message: 'must be from 0.5 to 0.95' },
  { rule: 'max_concurrent_requests range', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  max_concurrent_requests: 1001', ...HANDLERS), field: 'automatic_scaling.max_concurrent_requests', line: 3, message: 'must be from 1 to 1000' },
  { rule: 'min_pending_latency format', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  min_pending_latency: soon', ...HANDLERS), field: 'automatic_scaling.min_pending_latency', line: 3, message: 'is not a duration' },
  { rule: 'max_pending_latency cap', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  max_pending_latency: 11s', ...HANDLERS), field: 'automatic_scaling.max_pending_latency', line: 3, message: 'must be at most 10s' },
  { rule: 'min_instances above max_instances', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  min_instances: 5', '  max_instances: 2', ...HANDLERS), field: 'automatic_scaling.min_instances', line: 3, message: 'min_instances (5) is greater than max_instances (2)' },
  { rule: 'min_idle above max_idle', yaml: y('runtime: nodejs22', 'automatic_scaling:', '  max_idle_instances: 1', '  min_idle_instances: 3', ...HANDLERS), field: 'automatic_scaling.min_idle_instances', line: 4, message: 'is greater than max_idle_instances' },
  { rule: 'basic_scaling max_instances required', yaml: y('runtime: nodejs22', 'basic_scaling:', '  idle_timeout: 5m', ...HANDLERS), field: 'basic_scaling.max_instances', line: 2, message: 'is required' },
  { rule: 'basic_scaling max_instances range', yaml: y('runtime: nodejs22', 'basic_scaling:', '  max_instances: 201', ...HANDLERS), field: 'basic_scaling.max_instances', line: 3, message: 'must be from 1 to 200' },
  { rule: 'basic_scaling idle_timeout', yaml: y('runtime: nodejs22', 'basic_scaling:', '  max_instances: 2', '  idle_timeout: forever', ...HANDLERS), field: 'basic_scaling.idle_timeout', line: 4, message: 'is not a duration' },
  { rule: 'manual_scaling instances required', yaml: y('runtime: nodejs22', 'manual_scaling: {}', ...HANDLERS), field: 'manual_scaling.instances', line: 2, message: 'is required' },
  // env_variables
  { rule: 'env_variables type', yaml: y('runtime: nodejs22', 'env_variables:', '- A=1', ...HANDLERS), field: 'env_variables', line: 2, message: 'must be a mapping of NAME: value, not a list' },
  { rule: 'env variable name', yaml: y('runtime: nodejs22', 'env_variables:', '  GOOD: 1', '  1BAD: x', ...HANDLERS), field: 'env_variables.1BAD', line: 4, message: 'not a valid environment variable name' },
  { rule: 'env variable value', yaml: y('runtime: nodejs22', 'env_variables:', '  NESTED:', '    a: 1', ...HANDLERS), field: 'env_variables.NESTED', line: 3, message: 'must be a single value, not a mapping' },
  // handlers list
  { rule: 'handlers empty', yaml: y('runtime: nodejs22', 'handlers: []'), field: 'handlers', line: 2, message: 'at least one handler' },
  { rule: 'too many handlers', yaml: y('runtime: nodejs22', 'handlers:', ...Array.from({ length: 101 }, (_, i) => `- { url: /h${i}, script: main.app }`)), field: 'handlers', line: 2, message: 'has 101 handlers; at most 100' },
  // handler fields
  { rule: 'url required', yaml: y('runtime: nodejs22', 'handlers:', '- script: main.app'), field: 'handlers[0].url', line: 3, message: 'is required' },
  { rule: 'url leading ^', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '- url: ^/b', '  script: main.app'), field: 'handlers[1].url', line: 5, message: "must not start with '^'" },
  { rule: 'url regex', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a(b', '  script: main.app'), field: 'handlers[0].url', line: 3, message: 'not a valid regular expression: Unterminated group' },
  { rule: 'url without leading slash', yaml: y('runtime: nodejs22', 'handlers:', '- url: api', '  script: main.app'), field: 'handlers[0].url', line: 3, message: 'can never match' },
  { rule: 'no handler kind', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a'), field: 'handlers[0]', line: 3, message: 'needs one of script, static_dir or static_files' },
  { rule: 'two handler kinds', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  static_dir: static'), field: 'handlers[0].static_dir', line: 5, message: 'cannot be combined with script' },
  { rule: 'static_files without upload', yaml: y('runtime: nodejs22', 'handlers:', '- url: /(.*)', '  static_files: static/\\1'), field: 'handlers[0].static_files', line: 4, message: 'needs upload' },
  { rule: 'upload without static_files', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  static_dir: static', '  upload: static/.*'), field: 'handlers[0].upload', line: 5, message: 'only applies together with static_files' },
  { rule: 'upload regex', yaml: y('runtime: nodejs22', 'handlers:', '- url: /(.*)', '  static_files: static/\\1', '  upload: static/[a-'), field: 'handlers[0].upload', line: 5, message: 'not a valid regular expression' },
  { rule: 'mime_type on a script', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  mime_type: text/html'), field: 'handlers[0].mime_type', line: 5, message: 'applies only to static handlers' },
  { rule: 'http_headers on a script', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  http_headers:', '    X-A: b'), field: 'handlers[0].http_headers', line: 5, message: 'applies only to static handlers' },
  { rule: 'http_headers value', yaml: y('runtime: nodejs22', 'handlers:', '- url: /s', '  static_dir: static', '  http_headers:', '    X-A: [1, 2]'), field: 'handlers[0].http_headers.X-A', line: 6, message: 'must be a header value, not a list' },
  { rule: 'mime_type format', yaml: y('runtime: nodejs22', 'handlers:', '- url: /s', '  static_dir: static', '  mime_type: html'), field: 'handlers[0].mime_type', line: 5, message: 'must be a MIME type' },
  { rule: 'expiration syntax', yaml: y('runtime: nodejs22', 'handlers:', '- url: /s', '  static_dir: static', '  expiration: 1.5h'), field: 'handlers[0].expiration', line: 5, message: 'is not an expiration' },
  { rule: 'secure value', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  secure: sometimes'), field: 'handlers[0].secure', line: 5, message: 'must be one of optional, always, never' },
  { rule: 'redirect_http_response_code', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  redirect_http_response_code: 308'), field: 'handlers[0].redirect_http_response_code', line: 5, message: 'must be 301, 302, 303 or 307' },
  { rule: 'login value', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  login: everyone'), field: 'handlers[0].login', line: 5, message: 'must be one of optional, required, admin' },
  { rule: 'auth_fail_action value', yaml: y('runtime: nodejs22', 'handlers:', '- url: /a', '  script: main.app', '  auth_fail_action: deny'), field: 'handlers[0].auth_fail_action', line: 5, message: 'must be one of redirect, unauthorized' },
  // handler targets on disk
  { rule: 'module not found', yaml: y('runtime: nodejs22', 'handlers:', '- url: /.*', '  script: api/server.app'), field: 'handlers[0].script', line: 4, message: 'tried api/server.ts, api/server.mts, api/server.js, api/server.mjs, api/server.cjs' },
  { rule: 'export name', yaml: y('runtime: nodejs22', 'handlers:', '- url: /.*', '  script: main.my-app'), field: 'handlers[0].script', line: 4, message: "export name 'my-app'" },
  { rule: 'script outside the app', yaml: y('runtime: nodejs22', 'handlers:', '- url: /.*', '  script: ../other/main.app'), field: 'handlers[0].script', line: 4, message: 'outside the app directory' },
  { rule: 'static_dir missing', yaml: y('runtime: nodejs22', 'handlers:', '- url: /assets', '  static_dir: assets'), field: 'handlers[0].static_dir', line: 4, message: "directory 'assets' does not exist" },
  { rule: 'static_dir outside the app', yaml: y('runtime: nodejs22', 'handlers:', '- url: /up', '  static_dir: ../'), field: 'handlers[0].static_dir', line: 4, message: 'outside the app directory' },
  { rule: 'static_files outside the app', yaml: y('runtime: nodejs22', 'handlers:', '- url: /(.*)', '  static_files: /etc/\\1', '  upload: .*'), field: 'handlers[0].static_files', line: 4, message: 'outside the app directory' },
  // error_handlers
  { rule: 'error_code value', yaml: y('runtime: nodejs22', ...HANDLERS, 'error_handlers:', '- error_code: dos_api_denial', '  file: errors/quota.html'), field: 'error_handlers[0].error_code', line: 6, message: 'must be one of default, over_quota, timeout' },
  { rule: 'error_code twice', yaml: y('runtime: nodejs22', ...HANDLERS, 'error_handlers:', '- file: errors/quota.html', '- error_code: default', '  file: errors/quota.html'), field: 'error_handlers[1].error_code', line: 7, message: 'error_code default is already handled' },
  { rule: 'error page missing', yaml: y('runtime: nodejs22', ...HANDLERS, 'error_handlers:', '- error_code: timeout', '  file: errors/timeout.html'), field: 'error_handlers[0].file', line: 7, message: "file 'errors/timeout.html' does not exist" },
  { rule: 'error page too big', yaml: y('runtime: nodejs22', ...HANDLERS, 'error_handlers:', '- file: errors/big.html'), files: { 'errors/big.html': 'x'.repeat(10 * 1024) }, field: 'error_handlers[0].file', line: 6, message: 'must be smaller than 10 KiB' },
  // the rest of the top level
  { rule: 'default_expiration', yaml: y('runtime: nodejs22', 'default_expiration: 1 week', ...HANDLERS), field: 'default_expiration', line: 2, message: 'is not an expiration' },
  { rule: 'skip_files pattern', yaml: y('runtime: nodejs22', 'skip_files:', '- ^tests/.*$', '- ^(unclosed', ...HANDLERS), field: 'skip_files[1]', line: 4, message: "'^(unclosed' is not a valid regular expression" },
  { rule: 'skip_files type', yaml: y('runtime: nodejs22', 'skip_files: { a: 1 }', ...HANDLERS), field: 'skip_files', line: 2, message: 'must be a regular expression or a list of them' },
  { rule: 'inbound_services', yaml: y('runtime: nodejs22', 'inbound_services:', '- warmup', '- mail', ...HANDLERS), field: 'inbound_services[1]', line: 4, message: "must be one of warmup, not 'mail'" },
  { rule: 'libraries version', yaml: y('runtime: nodejs22', 'libraries:', '- name: ssl', ...HANDLERS), field: 'libraries[0].version', line: 3, message: 'is required' },
  { rule: 'libraries twice', yaml: y('runtime: nodejs22', 'libraries:', '- { name: ssl, version: latest }', '- { name: ssl, version: "2.7" }', ...HANDLERS), field: 'libraries[1].name', line: 4, message: "library 'ssl' is listed twice" },
];

describe('loadAppConfig rejects', () => {
  it.each(invalid)('$rule', async ({ yaml, files, field, line, message }) => {
    const issues = await issuesOf(yaml, files);
    const issue = issues.find((i) => i.field === field);
    expect(issue, `no issue for ${field} in:\n${JSON.stringify(issues, null, 2)}`).toBeDefined();
    expect(issue?.line).toBe(line);
    expect(issue?.message).toContain(message);
    expect(issue?.fix.length).toBeGreaterThan(5);
    expect(issue?.file).toMatch(/app\.yaml$/);
  });

  it('reports every problem at once, in file order', async () => {
    const issues = await issuesOf(
      y('runtime: ruby', 'service: Bad_Name', 'handlers:', '- url: ^/a', '  script: missing.app', 'extra: 1'),
    );
    expect(issues.map((i) => [i.line, i.field])).toEqual([
      [1, 'runtime'],
      [2, 'service'],
      [4, 'handlers[0].url'],
      [5, 'handlers[0].script'],
      [6, 'extra'],
    ]);
  });

  it('points at the column of the key', async () => {
    const issues = await issuesOf(
      y('runtime: nodejs22', 'handlers:', '  - url: ^/a', '    script: main.app'),
    );
    expect(issues[0]).toMatchObject({ field: 'handlers[0].url', line: 3, column: 5 });
  });

  it('formats issues as file:line:col field: message. Fix: ...', async () => {
    const dir = await makeApp(y('runtime: nodejs22', 'handlers:', '- url: ^/a', '  script: main.app'));
    const err = await loadAppConfig(dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /app\.yaml:3:3 handlers\[0\]\.url: must not start with '\^'\. Fix: remove the leading '\^'; urls are implicitly anchored\.$/,
    );
  });

  it('says where app.yaml was expected when it is missing', async () => {
    const empty = await mkdtemp(join(root, 'empty-'));
    await expect(loadAppConfig(empty)).rejects.toMatchObject({
      code: 'HANGAR_E_CONFIG_NOT_FOUND',
      message: expect.stringContaining(`no app.yaml in ${empty}; pass an app directory containing app.yaml`),
    });
    await expect(loadAppConfig(join(empty, 'nope'))).rejects.toMatchObject({
      code: 'HANGAR_E_CONFIG_NOT_FOUND',
    });
  });
});

describe('loadAppConfig normalises', () => {
  const minimal = y('runtime: nodejs22', ...HANDLERS);

  it('fills the defaults', async () => {
    const dir = await makeApp(minimal);
    const app = await loadAppConfig(dir);
    expect(app).toMatchObject({
      file: join(dir, 'app.yaml'),
      dir,
      service: 'default',
      runtime: 'nodejs22',
      threadsafe: true,
      instanceClass: 'F1',
      envVariables: {},
      errorHandlers: [],
      inboundServices: [],
      libraries: [],
      scaling: {
        kind: 'automatic',
        minInstances: 0,
        maxInstances: 20,
        maxInstancesExplicit: false,
        minIdleInstances: 0,
        maxIdleInstances: 1,
        targetThroughputUtilization: 0.6,
        maxConcurrentRequests: 10,
        minPendingLatencyMs: 30,
      },
    });
    expect(app.version).toBeUndefined();
    expect(app.application).toBeUndefined();
    expect(app.scaling).not.toHaveProperty('maxPendingLatencyMs');
    expect(app.handlers[0]).toMatchObject({
      kind: 'module',
      secure: 'optional',
      redirectHttpResponseCode: 302,
      login: 'optional',
      authFailAction: 'redirect',
    });
    expect(app.skipFiles.map((r) => r.test('.git/'))).toEqual([false, false, false, false, true]);
    expect(app.skipFiles.some((r) => r.test('src/main.ts'))).toBe(false);
    expect(app.skipFiles.some((r) => r.test('src/old.pyc'))).toBe(true);
  });

  it('reads names, module as service, and numbers as versions', async () => {
    const app = await load(
      y('application: my-app', 'module: api', 'version: 20', 'runtime: nodejs', ...HANDLERS),
    );
    expect(app).toMatchObject({ application: 'my-app', service: 'api', version: '20', runtime: 'nodejs' });
  });

  it('converts durations to milliseconds', async () => {
    const app = await load(
      y(
        'runtime: nodejs22',
        'default_expiration: 1d 2h',
        'automatic_scaling:',
        '  min_pending_latency: 1.5s',
        '  max_pending_latency: 2500ms',
        '  min_idle_instances: automatic',
        '  max_idle_instances: 4',
        'handlers:',
        '- url: /s',
        '  static_dir: static',
        '  expiration: 4d 5h',
        '- url: /(.*\\.css)',
        '  static_files: static/\\1',
        '  upload: static/.*\\.css',
        ...HANDLERS.slice(1),
      ),
    );
    expect(app.defaultExpirationMs).toBe(26 * 3_600_000);
    expect(app.scaling).toMatchObject({
      minPendingLatencyMs: 1500,
      maxPendingLatencyMs: 2500,
      minIdleInstances: 0,
      maxIdleInstances: 4,
    });
    expect(app.handlers[0]).toMatchObject({ kind: 'static-dir', expirationMs: (4 * 24 + 5) * 3_600_000 });
    // A static handler without its own expiration takes default_expiration; scripts do not.
    expect(app.handlers[1]).toMatchObject({ kind: 'static-files', expirationMs: 26 * 3_600_000 });
    expect(app.handlers[2]).not.toHaveProperty('expirationMs');
  });

  it('fills basic and manual scaling and their instance class', async () => {
    const basic = await load(y('runtime: nodejs22', 'basic_scaling:', '  max_instances: 3', ...HANDLERS));
    expect(basic.scaling).toEqual({ kind: 'basic', maxInstances: 3, idleTimeoutMs: 300_000 });
    expect(basic.instanceClass).toBe('B2');
    const timed = await load(
      y('runtime: nodejs22', 'basic_scaling: { max_instances: 1, idle_timeout: 90s }', ...HANDLERS),
    );
    expect(timed.scaling).toMatchObject({ idleTimeoutMs: 90_000 });
    const manual = await load(
      y('runtime: nodejs22', 'instance_class: B8', 'manual_scaling:', '  instances: 2', ...HANDLERS),
    );
    expect(manual.scaling).toEqual({ kind: 'manual', instances: 2 });
    expect(manual.instanceClass).toBe('B8');
  });

  it('lets an unset maximum follow a larger minimum', async () => {
    const app = await load(
      y('runtime: nodejs22', 'automatic_scaling: { min_instances: 25, min_idle_instances: 3 }', ...HANDLERS),
    );
    expect(app.scaling).toMatchObject({
      minInstances: 25,
      maxInstances: 25,
      minIdleInstances: 3,
      maxIdleInstances: 3,
    });
  });

  it('stringifies env values the way App Engine does', async () => {
    const app = await load(
      y(
        'runtime: nodejs22',
        'env_variables:',
        '  PORT_HINT: 8080',
        '  RATIO: 1.5',
        '  DEBUG: true',
        "  NAME: 'x'",
        ...HANDLERS,
      ),
    );
    expect(app.envVariables).toEqual({ PORT_HINT: '8080', RATIO: '1.5', DEBUG: 'true', NAME: 'x' });
  });

  it('detects the script kind: module, CGI file, entrypoint', async () => {
    const app = await load(
      y(
        'runtime: nodejs22',
        'entrypoint: node server.js',
        'handlers:',
        '- url: /cgi',
        '  script: cgi.sh',
        '- url: /api/.*',
        '  script: main.app',
        '- url: /.*',
        '  script: auto',
      ),
    );
    expect(app.handlers.map((h) => h.kind)).toEqual(['cgi', 'module', 'entrypoint']);
    expect(app.handlers[0]).toMatchObject({ kind: 'cgi', script: 'cgi.sh' });
    expect(app.handlers[1]).toMatchObject({
      kind: 'module',
      script: 'main.app',
      module: 'main.ts',
      exportName: 'app',
    });
    expect(app.entrypoint).toBe('node server.js');
    // S3: a CGI handler turns the threadsafe default off.
    expect(app.threadsafe).toBe(false);
  });

  it("takes App Engine's Node defaults: no handlers is every request to the app's server, run by npm start", async () => {
    // The whole app.yaml of App Engine's Node samples.
    const app = await load(y('runtime: nodejs20'));
    expect(app.handlers).toHaveLength(1);
    expect(app.handlers[0]).toMatchObject({ kind: 'entrypoint', script: 'auto', url: '/.*' });
    expect(app.handlers[0]!.pattern.test('/any/path')).toBe(true);
    expect(app.handlers[0]!.pattern.test('/')).toBe(true);
    expect(app.entrypoint).toBeUndefined();
    expect(entrypointCommand(app)).toBe('npm start');
    // script: auto without entrypoint: npm start too; with one, that command.
    const auto = await load(y('runtime: nodejs22', 'handlers:', '- url: /.*', '  script: auto'));
    expect(auto.handlers[0]).toMatchObject({ kind: 'entrypoint' });
    expect(entrypointCommand(auto)).toBe('npm start');
    const own = await load(y('runtime: nodejs22', 'entrypoint: node app.js'));
    expect(entrypointCommand(own)).toBe('node app.js');
  });

  it('resolves module extensions in the order .ts .mts .js .mjs .cjs', async () => {
    const handlers = (script: string) =>
      y('runtime: nodejs22', 'handlers:', '- url: /.*', `  script: ${script}`);
    const modules = async (script: string, files: Record<string, string>) =>
      ((await load(handlers(script), files)).handlers[0] as Handler & { module: string }).module;
    expect(await modules('lib/api.handler', { 'lib/api.js': '', 'lib/api.mts': '' })).toBe('lib/api.mts');
    expect(await modules('lib/api.handler', { 'lib/api.mjs': '', 'lib/api.cjs': '' })).toBe('lib/api.mjs');
    expect(await modules('lib/api.handler', { 'lib/api.cjs': '' })).toBe('lib/api.cjs');
    expect(await modules('./v1.2/api.app', { 'v1.2/api.js': '' })).toBe('v1.2/api.js');
    // Split at the last dot: module `main`, export `app` (main.ts is a default file).
    const app = await load(handlers('main.app'), { 'main.js': '' });
    expect(app.handlers[0]).toMatchObject({ module: 'main.ts', exportName: 'app' });
  });

  it('compiles url, static_dir and upload patterns', async () => {
    const app = await load(
      y(
        'runtime: nodejs22',
        'handlers:',
        '- url: /static/',
        '  static_dir: static/',
        '  http_headers: { X-Frame-Options: DENY, X-Max: 5 }',
        '  mime_type: text/css',
        '- url: /(.*\\.(png|css))',
        '  static_files: static/\\1',
        '  upload: static/.*\\.(png|css)',
        '  secure: always',
        '  redirect_http_response_code: 301',
        '  login: admin',
        '  auth_fail_action: unauthorized',
        '- url: /api/.*',
        '  script: main.app',
      ),
    );
    const [dir, files, script] = app.handlers;
    expect(dir).toMatchObject({ kind: 'static-dir', staticDir: 'static', mimeType: 'text/css' });
    expect(dir).toMatchObject({ httpHeaders: { 'X-Frame-Options': 'DENY', 'X-Max': '5' } });
    expect(dir?.pattern.exec('/static/css/site.css')?.[1]).toBe('css/site.css');
    expect(dir?.pattern.exec('/static/css/site.css')?.groups?.path).toBe('css/site.css');
    expect(dir?.pattern.test('/staticx/a')).toBe(false);
    expect(files).toMatchObject({
      kind: 'static-files',
      staticFiles: 'static/\\1',
      secure: 'always',
      redirectHttpResponseCode: 301,
      login: 'admin',
      authFailAction: 'unauthorized',
    });
    expect(files?.kind === 'static-files' && files.upload.test('static/a.png')).toBe(true);
    expect(files?.kind === 'static-files' && files.upload.test('x/static/a.png')).toBe(false);
    expect(script?.pattern.test('/api/users')).toBe(true);
    expect(script?.pattern.test('/v2/api/users')).toBe(false);
  });

  it('reads error handlers, skip_files, inbound services and libraries', async () => {
    const app = await load(
      y(
        'runtime: nodejs22',
        ...HANDLERS,
        'error_handlers:',
        '- file: errors/quota.html',
        '- error_code: over_quota',
        '  file: errors/quota.html',
        '  mime_type: text/html',
        'skip_files: ^node_modules/.*$',
        'inbound_services: [warmup]',
        'libraries:',
        '- name: ssl',
        '  version: latest',
      ),
    );
    expect(app.errorHandlers).toEqual([
      { errorCode: 'default', file: 'errors/quota.html' },
      { errorCode: 'over_quota', file: 'errors/quota.html', mimeType: 'text/html' },
    ]);
    expect(app.skipFiles).toHaveLength(1);
    expect(app.skipFiles[0]?.test('node_modules/x/index.js')).toBe(true);
    expect(app.skipFiles[0]?.test('src/node_modules/x')).toBe(false);
    expect(app.inboundServices).toEqual(['warmup']);
    expect(app.libraries).toEqual([{ name: 'ssl', version: 'latest' }]);
  });

  it('accepts the path of the YAML file itself, under any name', async () => {
    const dir = await makeApp('', { 'api.yaml': y('service: api', 'runtime: nodejs22', ...HANDLERS) });
    const app = await loadAppConfig(join(dir, 'api.yaml'));
    expect(app).toMatchObject({ service: 'api', dir, file: join(dir, 'api.yaml') });
  });

  it('allows threadsafe: false with CGI and true without it', async () => {
    const cgi = await load(
      y('runtime: nodejs22', 'threadsafe: false', 'handlers:', '- url: /.*', '  script: cgi.sh'),
    );
    expect(cgi.threadsafe).toBe(false);
    const module = await load(y('runtime: nodejs22', 'threadsafe: true', ...HANDLERS));
    expect(module.threadsafe).toBe(true);
  });
});
