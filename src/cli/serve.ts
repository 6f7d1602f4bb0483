import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadPlatformConfig, PLATFORM_CONFIG_FILE } from '../config/index.js';
import { nodeName } from '../platform/cluster.js';
import { startServePlatform } from '../platform/serve-platform.js';
import { loadCertificate } from '../platform/tls.js';
import { HangarError } from '../shared/errors.js';
import { createPlatformLogger } from '../shared/logger.js';
import { checkDatabaseUrl, redactUrl } from '../shared/postgres.js';
import { serveServerSoftware } from '../shared/version.js';
import { stopOnSignals } from './stop-on-signals.js';

/** `hangar serve`'s flags as typed (S2). */
export interface ServeFlags {
  port?: number;
  httpsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  adminPort?: number;
  host?: string;
  domain?: string;
  dataDir?: string;
  database?: string;
  node?: string;
  peerHost?: string;
  config?: string;
}

/** S2's defaults for `hangar serve`. */
export const serveDefaults = {
  port: 8080,
  adminPort: 8000,
  host: '127.0.0.1',
  domain: 'localhost',
  dataDir: './hangar-data',
} as const;

/**
 * `hangar serve` (SPEC S2, S11): the platform on one machine, serving the versions deployed
 * under `--data-dir`. Stops (draining every version) on SIGINT or SIGTERM.
 */
export async function runServe(flags: ServeFlags): Promise<void> {
  // JSON lines when not on a terminal (HANGAR_LOG_FORMAT overrides): the platform's own log only.
  const logger = createPlatformLogger(process.stdout);
  // The URL may also come from the environment, so its password stays out of `ps`.
  const databaseUrl = flags.database ?? process.env.HANGAR_DATABASE_URL;
  if (databaseUrl !== undefined) checkDatabaseUrl(databaseUrl);
  if (flags.node !== undefined && databaseUrl === undefined) {
    throw new HangarError(
      'USAGE',
      '--node names a node among several on one --database; give --database too',
    );
  }
  if (
    (flags.tlsCert === undefined) !== (flags.tlsKey === undefined) ||
    (flags.httpsPort !== undefined && !flags.tlsCert)
  ) {
    throw new HangarError('USAGE', '--https-port needs both --tls-cert FILE and --tls-key FILE');
  }
  const dataDir = resolve(flags.dataDir ?? serveDefaults.dataDir);
  const platformConfig = await loadPlatformConfig(flags.config, {
    dataDir,
    ...(flags.config ? { givenBy: '--config' } : {}),
  });
  // The file's text, for `GET /api/config` (hangar export kubernetes puts it into a ConfigMap).
  const configPath = flags.config ? resolve(flags.config) : join(dataDir, PLATFORM_CONFIG_FILE);
  const configText = await readFile(configPath, 'utf8').catch(() => undefined);
  const https =
    flags.httpsPort !== undefined && flags.tlsCert && flags.tlsKey
      ? {
          port: flags.httpsPort,
          tls: await loadCertificate({ kind: 'files', cert: flags.tlsCert, key: flags.tlsKey }, dataDir),
        }
      : undefined;
  const platform = await startServePlatform({
    platformConfig,
    host: flags.host ?? serveDefaults.host,
    port: flags.port ?? serveDefaults.port,
    adminPort: flags.adminPort ?? serveDefaults.adminPort,
    dataDir,
    domain: flags.domain ?? serveDefaults.domain,
    logger,
    ...(https ? { https } : {}),
    ...(databaseUrl === undefined
      ? {}
      : {
          database: {
            url: databaseUrl,
            node: nodeName(dataDir, flags.node),
            ...(flags.peerHost ? { peerHost: flags.peerHost } : {}),
          },
        }),
    ...(configText === undefined ? {} : { platformConfigSource: { path: configPath, text: configText } }),
  });
  const versions = platform.state.runtimes.length;
  logger.info(
    `Hangar serve (${serveServerSoftware}): ${platform.url}${platform.httpsUrl ? `, ${platform.httpsUrl}` : ''}`,
  );
  logger.info(
    `  ${versions} version${versions === 1 ? '' : 's'} from ${platform.database ? `${redactUrl(platform.database.url)} (node ${platform.database.node}, files in ${dataDir})` : dataDir}`,
  );
  logger.info(`  admin API: ${platform.adminUrl} (token in ${join(dataDir, 'admin-token')})`);

  stopOnSignals(() => platform.close(), logger, { saying: 'draining and stopping' });
}
