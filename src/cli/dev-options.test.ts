import { describe, expect, it } from 'vitest';
import {
  type DevEnv,
  type DevFileSettings,
  type DevFlags,
  devConfigLocation,
  devDefaults,
  type ResolvedDevOptions,
  resolveDevOptions,
} from './dev-options.js';

const defaults: ResolvedDevOptions = {
  port: 8080,
  adminPort: 8000,
  host: '127.0.0.1',
  dataDir: '.hangar',
  config: undefined,
  application: undefined,
  watch: true,
  httpsPort: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  tlsSelfSigned: false,
  strictSockets: false,
};

interface Case {
  name: string;
  flags?: DevFlags;
  env?: DevEnv;
  file?: DevFileSettings;
  /** What differs from the defaults. */
  want: Partial<ResolvedDevOptions>;
}

// biome-ignore format: one row per case reads as a table
const cases: Case[] = [
  { name: 'nothing given: the S2 defaults', want: {} },
  // port
  { name: 'port: env over default', env: { HANGAR_PORT: '9090' }, want: { port: 9090 } },
  { name: 'port: flag over env', flags: { port: 7070 }, env: { HANGAR_PORT: '9090' }, want: { port: 7070 } },
  { name: 'port: flag 0 (any free port) over env', flags: { port: 0 }, env: { HANGAR_PORT: '9090' }, want: { port: 0 } },
  { name: 'port: env 0', env: { HANGAR_PORT: '0' }, want: { port: 0 } },
  { name: 'port: flag equal to the default still beats env', flags: { port: 8080 }, env: { HANGAR_PORT: '9090' }, want: { port: 8080 } },
  // admin port
  { name: 'admin port: env over default', env: { HANGAR_ADMIN_PORT: '9000' }, want: { adminPort: 9000 } },
  { name: 'admin port: flag over env', flags: { adminPort: 9100 }, env: { HANGAR_ADMIN_PORT: '9000' }, want: { adminPort: 9100 } },
  // host
  { name: 'host: env over default', env: { HANGAR_HOST: '::1' }, want: { host: '::1' } },
  { name: 'host: flag over env', flags: { host: '127.0.0.2' }, env: { HANGAR_HOST: '::1' }, want: { host: '127.0.0.2' } },
  // data dir
  { name: 'data dir: env over default', env: { HANGAR_DATA_DIR: '/srv/hangar' }, want: { dataDir: '/srv/hangar' } },
  { name: 'data dir: flag over env', flags: { dataDir: 'here' }, env: { HANGAR_DATA_DIR: '/srv/hangar' }, want: { dataDir: 'here' } },
  // config file
  { name: 'config: env over default (the data dir file)', env: { HANGAR_CONFIG: 'env.yaml' }, want: { config: 'env.yaml' } },
  { name: 'config: flag over env', flags: { config: 'flag.yaml' }, env: { HANGAR_CONFIG: 'env.yaml' }, want: { config: 'flag.yaml' } },
  // application
  { name: 'application: env over app.yaml', env: { HANGAR_APPLICATION: 'from-env' }, want: { application: 'from-env' } },
  { name: 'application: flag over env', flags: { application: 'from-flag' }, env: { HANGAR_APPLICATION: 'from-env' }, want: { application: 'from-flag' } },
  // sockets.strict: every layer
  { name: 'strict sockets: file over default', file: { sockets: { strict: true } }, want: { strictSockets: true } },
  { name: 'strict sockets: file false is the default', file: { sockets: { strict: false } }, want: {} },
  { name: 'strict sockets: env 1 over file false', env: { HANGAR_STRICT_SOCKETS: '1' }, file: { sockets: { strict: false } }, want: { strictSockets: true } },
  { name: 'strict sockets: env false over file true', env: { HANGAR_STRICT_SOCKETS: 'false' }, file: { sockets: { strict: true } }, want: { strictSockets: false } },
  { name: 'strict sockets: env TRUE (any case)', env: { HANGAR_STRICT_SOCKETS: 'TRUE' }, want: { strictSockets: true } },
  { name: 'strict sockets: flag over env 0', flags: { strictSockets: true }, env: { HANGAR_STRICT_SOCKETS: '0' }, want: { strictSockets: true } },
  { name: 'strict sockets: flag over env 0 and file false', flags: { strictSockets: true }, env: { HANGAR_STRICT_SOCKETS: '0' }, file: { sockets: { strict: false } }, want: { strictSockets: true } },
  { name: 'strict sockets: a file without a sockets section', file: {}, want: {} },
  // flags only
  { name: 'watch: --no-watch', flags: { watch: false }, want: { watch: false } },
  { name: 'https: flags pass through', flags: { httpsPort: 8443, tlsSelfSigned: true }, want: { httpsPort: 8443, tlsSelfSigned: true } },
  { name: 'tls files: flags pass through', flags: { httpsPort: 0, tlsCert: 'c.pem', tlsKey: 'k.pem' }, want: { httpsPort: 0, tlsCert: 'c.pem', tlsKey: 'k.pem' } },
  // the environment's edges
  { name: 'an empty variable counts as unset', env: { HANGAR_PORT: '', HANGAR_HOST: '', HANGAR_DATA_DIR: '', HANGAR_STRICT_SOCKETS: '' }, want: {} },
  { name: 'a bad variable is not read when its flag is given', flags: { port: 1234 }, env: { HANGAR_PORT: 'eighty' }, want: { port: 1234 } },
  { name: 'variables of other options do not leak', env: { PORT: '3000', HANGAR_TOKEN: 'secret' }, want: {} },
];

describe('resolveDevOptions: flag > env > file > default', () => {
  it.each(cases)('$name', ({ flags = {}, env = {}, file, want }) => {
    const options = resolveDevOptions({ flags, env, ...(file ? { file } : {}) });
    expect(options).toEqual({ ...defaults, ...want });
    expect(Object.isFrozen(options)).toBe(true);
  });

  it('agrees with devConfigLocation on where the platform config file is', () => {
    for (const { flags = {}, env = {} } of cases) {
      const { config, dataDir } = resolveDevOptions({ flags, env });
      expect(devConfigLocation({ flags, env })).toMatchObject({ config, dataDir });
    }
  });

  it('says where the config path came from', () => {
    const where = (flags: DevFlags, env: DevEnv) => devConfigLocation({ flags, env }).configGivenBy;
    expect(where({}, {})).toBeUndefined();
    expect(where({}, { HANGAR_CONFIG: 'e.yaml' })).toBe('HANGAR_CONFIG');
    expect(where({ config: 'f.yaml' }, { HANGAR_CONFIG: 'e.yaml' })).toBe('--config');
    expect(where({}, { HANGAR_CONFIG: '' })).toBeUndefined();
  });

  it('holds the S2 defaults', () => {
    expect(devDefaults).toMatchObject({ port: 8080, adminPort: 8000, host: '127.0.0.1', dataDir: '.hangar' });
    expect(Object.isFrozen(devDefaults)).toBe(true);
  });
});

// biome-ignore format: one row per case reads as a table
const bad: Array<{ env: DevEnv; message: string }> = [
  { env: { HANGAR_PORT: 'eighty' }, message: "HANGAR_PORT must be a port number from 0 to 65535 (0 = any free port), not 'eighty'; fix HANGAR_PORT or unset it (--port on the command line wins over it)" },
  { env: { HANGAR_PORT: '65536' }, message: "HANGAR_PORT must be a port number from 0 to 65535 (0 = any free port), not '65536'" },
  { env: { HANGAR_PORT: '-1' }, message: "not '-1'; fix HANGAR_PORT or unset it" },
  { env: { HANGAR_PORT: '80.5' }, message: "not '80.5'" },
  { env: { HANGAR_ADMIN_PORT: '8000x' }, message: "HANGAR_ADMIN_PORT must be a port number from 0 to 65535 (0 = any free port), not '8000x'; fix HANGAR_ADMIN_PORT or unset it (--admin-port on the command line wins over it)" },
  { env: { HANGAR_STRICT_SOCKETS: 'yes' }, message: "HANGAR_STRICT_SOCKETS must be 1 or true, 0 or false, not 'yes'; fix HANGAR_STRICT_SOCKETS or unset it (--strict-sockets on the command line wins over it)" },
];

describe('resolveDevOptions: malformed variables', () => {
  it.each(bad)('$env', ({ env, message }) => {
    let caught: unknown;
    try {
      resolveDevOptions({ flags: {}, env });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'HANGAR_E_USAGE', message: expect.stringContaining(message) });
  });
});
