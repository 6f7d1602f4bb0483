/**
 * `hangar dev`'s options, resolved in one place: a flag beats its environment variable, which
 * beats the platform config file (where the file has a say, e.g. `sockets.strict`), which
 * beats the default. Pure: the caller reads the flags, the environment and the file, so every
 * combination is a row in dev-options.test.ts. Commander applies no defaults for these flags,
 * or a typed `--port 8080` could not be told from an untouched one.
 */
import { HangarError } from '../shared/errors.js';
import { portProblem } from './options.js';

/** The flags the user typed (nothing filled in by commander). */
export interface DevFlags {
  port?: number;
  adminPort?: number;
  host?: string;
  dataDir?: string;
  config?: string;
  application?: string;
  /** `--no-watch` gives `false`. */
  watch?: boolean;
  httpsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean;
  strictSockets?: boolean;
  /** Stack traces with every frame, not only the app's own. */
  fullTraces?: boolean;
  /** `--inspect` (true) or `--inspect=PORT`: the debugger port (default 9229). */
  inspect?: number | true;
}

/** What the platform config file says about dev options (a loaded PlatformConfig fits). */
export interface DevFileSettings {
  sockets?: { strict?: boolean };
}

/** `hangar dev`'s options, every one decided. */
export interface ResolvedDevOptions {
  port: number;
  adminPort: number;
  host: string;
  /** As given (relative paths are relative to the working directory). */
  dataDir: string;
  /** An explicit platform config file (must exist); undefined: `<dataDir>/hangar.config.yaml` if present. */
  config: string | undefined;
  /** Undefined: app.yaml's `application:`, else the app folder's name. */
  application: string | undefined;
  watch: boolean;
  httpsPort: number | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsSelfSigned: boolean;
  /** S12 `sockets.strict`: refuse loopback/private socket destinations instead of warning. */
  strictSockets: boolean;
}

/** The defaults, one object with units (ports, paths). */
export const devDefaults = Object.freeze({
  port: 8080,
  adminPort: 8000,
  host: '127.0.0.1',
  dataDir: '.hangar',
  watch: true,
  strictSockets: false,
});

/** The environment variable of each option that has one (docs/cli.md). */
export const devEnv = Object.freeze({
  port: 'HANGAR_PORT',
  adminPort: 'HANGAR_ADMIN_PORT',
  host: 'HANGAR_HOST',
  dataDir: 'HANGAR_DATA_DIR',
  config: 'HANGAR_CONFIG',
  application: 'HANGAR_APPLICATION',
  strictSockets: 'HANGAR_STRICT_SOCKETS',
});

/** The flag of each option with a variable, for messages. */
const flagOf: Record<keyof typeof devEnv, string> = {
  port: '--port',
  adminPort: '--admin-port',
  host: '--host',
  dataDir: '--data-dir',
  config: '--config',
  application: '--application',
  strictSockets: '--strict-sockets',
};

export type DevEnv = Readonly<Record<string, string | undefined>>;

/**
 * Where the platform config file is looked for: needed before the file can be read, so it
 * depends on flags and environment only.
 *
 * @example
 * devConfigLocation({ flags: {}, env: { HANGAR_DATA_DIR: '/srv/hangar' } })
 * // { config: undefined, configGivenBy: undefined, dataDir: '/srv/hangar' }
 */
export function devConfigLocation(input: { flags: DevFlags; env: DevEnv }): {
  config: string | undefined;
  /** Where `config` came from, for the message when the file is missing. */
  configGivenBy: '--config' | 'HANGAR_CONFIG' | undefined;
  dataDir: string;
} {
  const { flags, env } = input;
  const fromEnv = text(env, 'config');
  return {
    config: flags.config ?? fromEnv,
    configGivenBy:
      flags.config !== undefined ? '--config' : fromEnv !== undefined ? devEnv.config : undefined,
    dataDir: flags.dataDir ?? text(env, 'dataDir') ?? devDefaults.dataDir,
  };
}

/**
 * Resolves every `hangar dev` option: flag > environment variable > platform config file >
 * default. A malformed variable is a HangarError USAGE (exit code 2) that names it and says
 * how to fix it; an empty variable counts as unset.
 *
 * @example
 * const { config, configGivenBy, dataDir } = devConfigLocation({ flags, env: process.env });
 * const file = await loadPlatformConfig(config, { dataDir, givenBy: configGivenBy });
 * const options = resolveDevOptions({ flags, env: process.env, file });
 */
export function resolveDevOptions(input: {
  flags: DevFlags;
  env: DevEnv;
  file?: DevFileSettings;
}): Readonly<ResolvedDevOptions> {
  const { flags, env, file } = input;
  const { config, dataDir } = devConfigLocation({ flags, env });
  return Object.freeze({
    port: flags.port ?? port(env, 'port') ?? devDefaults.port,
    adminPort: flags.adminPort ?? port(env, 'adminPort') ?? devDefaults.adminPort,
    host: flags.host ?? text(env, 'host') ?? devDefaults.host,
    dataDir,
    config,
    application: flags.application ?? text(env, 'application'),
    watch: flags.watch ?? devDefaults.watch,
    httpsPort: flags.httpsPort,
    tlsCert: flags.tlsCert,
    tlsKey: flags.tlsKey,
    tlsSelfSigned: flags.tlsSelfSigned ?? false,
    // `--strict-sockets` can only turn it on; HANGAR_STRICT_SOCKETS=0 turns off what the file turned on.
    strictSockets:
      flags.strictSockets ??
      boolean(env, 'strictSockets') ??
      file?.sockets?.strict ??
      devDefaults.strictSockets,
  });
}

function text(env: DevEnv, option: keyof typeof devEnv): string | undefined {
  const value = env[devEnv[option]];
  return value === undefined || value === '' ? undefined : value;
}

function port(env: DevEnv, option: 'port' | 'adminPort'): number | undefined {
  const value = text(env, option);
  if (value === undefined) return undefined;
  const problem = portProblem(value, devEnv[option]);
  if (problem) throw usage(option, problem);
  return Number(value);
}

function boolean(env: DevEnv, option: 'strictSockets'): boolean | undefined {
  const value = text(env, option);
  if (value === undefined) return undefined;
  const lower = value.trim().toLowerCase();
  if (lower === '1' || lower === 'true') return true;
  if (lower === '0' || lower === 'false') return false;
  throw usage(option, `${devEnv[option]} must be 1 or true, 0 or false, not '${value}'`);
}

function usage(option: keyof typeof devEnv, problem: string): HangarError {
  const name = devEnv[option];
  return new HangarError(
    'USAGE',
    `${problem}; fix ${name} or unset it (${flagOf[option]} on the command line wins over it)`,
  );
}
