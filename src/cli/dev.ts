import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { appNameFor } from '../config/app-names.js';
import { withDevEnvFiles } from '../config/dev-env-files.js';
import { type DispatchRule, loadDispatch } from '../config/dispatch-config.js';
import { loadAppConfig, loadPlatformConfig } from '../config/index.js';
import type { AppConfig } from '../config/types.js';
import { startDevPlatform } from '../platform/platform.js';
import { certificateSource, loadCertificate } from '../platform/tls.js';
import { instanceIsolation } from '../scheduler/isolation.js';
import { HangarError } from '../shared/errors.js';
import { createLogger, type Logger, paint } from '../shared/logger.js';
import { devServerSoftware } from '../shared/version.js';
import { type DevEnv, type DevFlags, devConfigLocation, resolveDevOptions } from './dev-options.js';
import { stopOnSignals } from './stop-on-signals.js';

/**
 * `hangar dev [PATH ...]` (SPEC S2): the local development server. `flags` are the ones typed
 * on the command line; each option is resolved by resolveDevOptions (flag > env > file > default).
 */
export async function runDev(paths: string[], flags: DevFlags, env: DevEnv = process.env): Promise<void> {
  const logger = createLogger(process.stdout);
  const location = devConfigLocation({ flags, env });
  const services = (await loadServices(paths)).map((config) => withEnvFiles(config, logger));
  // --config (or HANGAR_CONFIG) must exist; else <data-dir>/hangar.config.yaml is read when present.
  const loaded = await loadPlatformConfig(location.config, {
    dataDir: location.dataDir,
    ...(location.configGivenBy ? { givenBy: location.configGivenBy } : {}),
  });
  const opts = resolveDevOptions({ flags, env, file: loaded });
  const dispatch = await loadDevDispatch(services);
  const dataDir = resolve(opts.dataDir);
  const platformConfig =
    opts.strictSockets === loaded.sockets.strict
      ? loaded
      : { ...loaded, sockets: { ...loaded.sockets, strict: opts.strictSockets } };
  const application = opts.application ?? services[0]!.application ?? appNameFor(services[0]!.dir);
  const certificate = certificateSource(opts);
  const https =
    certificate && opts.httpsPort !== undefined
      ? { port: opts.httpsPort, tls: await loadCertificate(certificate, dataDir) }
      : undefined;

  const platform = await startDevPlatform({
    services,
    application,
    platformConfig,
    host: opts.host,
    port: opts.port,
    adminPort: opts.adminPort,
    dataDir,
    watch: opts.watch,
    logger,
    reloadConfig: async (file) => withEnvFiles(await loadAppConfig(file), logger),
    fullTraces: flags.fullTraces === true,
    ...(dispatch ? { dispatch: dispatch.rules } : {}),
    ...(flags.inspect !== undefined ? { inspect: { port: inspectPort(flags.inspect) } } : {}),
    ...(https ? { https } : {}),
  });
  const c = logger.color;
  logger.info(`${paint(c, 'bold', 'Hangar dev server')} for ${application} (${devServerSoftware})`);
  for (const runtime of platform.services) {
    logger.info(
      `  ${runtime.service} (version ${runtime.version}): ${paint(c, 'cyan', serviceUrl(platform.url, runtime.service))}`,
    );
  }
  if (dispatch) logger.info(`  dispatch: ${dispatch.rules.length} rules from ${dispatch.file}`);
  if (platform.httpsUrl) {
    const from = https?.tls.files[0] ?? '';
    logger.info(`  https: ${paint(c, 'cyan', platform.httpsUrl)} (certificate ${from})`);
  }
  for (const { service, port } of platform.inspectors) {
    logger.info(
      `  debugger for ${service}: ${paint(c, 'cyan', `127.0.0.1:${port}`)} (chrome://inspect, or an "attach" in VS Code; one instance while inspecting)`,
    );
  }
  logger.info(`  admin API: ${platform.adminUrl} (token in ${join(dataDir, 'admin-token')})`);
  logger.info(
    opts.watch
      ? '  watching app files for changes; Ctrl-C stops'
      : '  not watching files (--no-watch); Ctrl-C stops',
  );

  stopOnSignals(() => platform.close(), logger, {
    saying: 'stopping instances',
    // A second Ctrl-C: stop waiting for requests to drain.
    again: () => {
      for (const runtime of platform.services) runtime.pool.killAll();
    },
  });
}

/** Node's own default debugger port, which chrome://inspect and VS Code look at first. */
const defaultInspectPort = 9229;

function inspectPort(flag: number | true): number {
  // The instances' inspector needs their own loopback (netns); Node's permission model refuses it.
  const isolation = instanceIsolation();
  if (isolation.mode === 'permission') {
    throw new HangarError(
      'USAGE',
      `--inspect cannot work with instance isolation '${isolation.mode}' (${isolation.how}): Node's permission model refuses the inspector. It needs network namespaces (Linux with unshare), or HANGAR_ISOLATION=none while debugging`,
    );
  }
  return flag === true ? defaultInspectPort : flag;
}

/**
 * dispatch.yaml beside the services' folders (their common parent), as `gcloud app deploy`
 * finds it beside the services: its rules, checked against the services given.
 */
async function loadDevDispatch(
  services: AppConfig[],
): Promise<{ file: string; rules: DispatchRule[] } | undefined> {
  const parents = new Set(services.map((config) => dirname(config.dir)));
  if (parents.size !== 1) return undefined;
  const file = join([...parents][0]!, 'dispatch.yaml');
  if (!existsSync(file)) return undefined;
  const rules = await loadDispatch(file);
  const known = new Set(services.map((config) => config.service));
  const unknown = rules.filter((rule) => !known.has(rule.service));
  if (unknown.length > 0) {
    throw new HangarError(
      'CONFIG_INVALID',
      `${file}: ${unknown.map((rule) => `url "${rule.url}" names service '${rule.service}'`).join('; ')}, which is not one of the services given (${[...known].join(', ')}); pass its folder to hangar dev too`,
    );
  }
  return { file, rules };
}

/** `config` with its `.env` and `.env.local` (dev only, dev-env-files.ts), their warnings told. */
function withEnvFiles(config: AppConfig, logger: Logger): AppConfig {
  const { config: withEnv, files, warnings } = withDevEnvFiles(config);
  for (const warning of warnings) logger.warn(warning);
  if (files.length > 0)
    logger.info(
      `${config.service}: variables from ${files.map((f) => basename(f)).join(' and ')} (hangar dev only)`,
    );
  return withEnv;
}

async function loadServices(paths: string[]): Promise<AppConfig[]> {
  const services: AppConfig[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    try {
      services.push(await loadAppConfig(path));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length) throw new HangarError('CONFIG_INVALID', problems.join('\n'));
  const seen = new Map<string, string>();
  for (const config of services) {
    const other = seen.get(config.service);
    if (other) {
      throw new HangarError(
        'CONFIG_INVALID',
        `service ${config.service} is defined twice: ${other} and ${config.file}; give each app.yaml its own service:`,
      );
    }
    seen.set(config.service, config.file);
  }
  if (services.length > 1 && !seen.has('default')) {
    throw new HangarError(
      'CONFIG_INVALID',
      `none of the ${services.length} services is 'default'; one app.yaml must leave service: unset or set it to default`,
    );
  }
  services.sort((a, b) => (a.service === 'default' ? -1 : b.service === 'default' ? 1 : 0));
  return services;
}

/**
 * Where a service answers, as the start-up banner prints it. The dev server picks a service by
 * the host's first label (`worker.localhost`, S11), and `*.localhost` names loopback in
 * browsers and curl; `worker.127.0.0.1` names nothing. On an address that is not loopback
 * the host has to be sent by hand.
 *
 * @example
 * serviceUrl('http://127.0.0.1:8080', 'worker') // 'http://worker.localhost:8080'
 */
export function serviceUrl(platformUrl: string, service: string): string {
  if (service === 'default') return platformUrl;
  const url = new URL(platformUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback =
    host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '0.0.0.0' || host === '::';
  if (!loopback) return `${platformUrl} (with Host: ${service}.localhost)`;
  url.hostname = `${service}.localhost`;
  return url.origin;
}
