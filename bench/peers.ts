/**
 * The peers Hangar is measured against, from their npm packages (devDependencies): workerd
 * (Cloudflare's runtime, one worker) and @google-cloud/functions-framework (an HTTP function
 * on its Express server). Both serve bench/app's routes on 127.0.0.1 and a free port. A peer
 * that is not installed or does not start throws, and the suite skips it with the reason.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startChild, stopChild } from './children.js';
import { firstLine } from './format.js';
import { appDir, type Target } from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

const require = createRequire(import.meta.url);

/** Each peer's version, or why it is not there (the suite then skips it). */
export function peerVersions(): Record<string, string> {
  const version = (read: () => string) => {
    try {
      return read();
    } catch (err) {
      return `not installed (${firstLine(err)})`;
    }
  };
  return {
    workerd: version(() => workerdPackage().version),
    'functions-framework': version(functionsFrameworkVersion),
  };
}

/** The `workerd` package: its default export is the path of the platform's binary (an optional dependency). */
function workerdPackage(): { binary: string; version: string; compatibilityDate: string } {
  const pkg = require('workerd') as { default: string; version: string; compatibilityDate: string };
  return { binary: pkg.default, version: pkg.version, compatibilityDate: pkg.compatibilityDate };
}

/**
 * A capnp config serving worker.mjs on 127.0.0.1, port 0. workerd embeds files relative to the
 * config only, so the modules are copied next to it.
 */
function workerdConfig(dir: string, compatibilityDate: string): string {
  for (const file of ['worker.mjs', 'payload.mjs']) copyFileSync(join(appDir, file), join(dir, file));
  const config = join(dir, 'config.capnp');
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .bench) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);
const bench :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "payload.mjs", esModule = embed "payload.mjs"),
  ],
  compatibilityDate = "${compatibilityDate}",
);
`,
  );
  return config;
}

/** `workerd serve` with one worker; it reports its port on the control fd. */
export async function workerd(): Promise<Target> {
  const { binary, version, compatibilityDate } = workerdPackage();
  const dir = makeTempDir('workerd');
  try {
    const { child, match, spawnedAt } = await startChild(
      binary,
      ['serve', workerdConfig(dir, compatibilityDate), '--control-fd=3'],
      /"event":"listen","socket":"http","port":(\d+)/,
      { controlFd: true },
    );
    return {
      name: `workerd ${version}`,
      url: `http://127.0.0.1:${match[1]}/`,
      pid: child.pid!,
      spawnedAt,
      stop: async () => {
        await stopChild(child);
        removeTempDir(dir);
      },
    };
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}

function functionsFrameworkVersion(): string {
  const main = require.resolve('@google-cloud/functions-framework');
  const pkg = JSON.parse(readFileSync(join(dirname(main), '../../package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The Functions Framework's server with the suite's routes as an HTTP function (bench/app/functions-framework.mjs). */
export async function functionsFramework(): Promise<Target> {
  const version = functionsFrameworkVersion();
  const { child, match, spawnedAt } = await startChild(
    process.execPath,
    [join(appDir, 'functions-framework.mjs')],
    /listening on (\d+)/,
  );
  return {
    name: `functions-framework ${version}`,
    url: `http://127.0.0.1:${match[1]}/`,
    pid: child.pid!,
    spawnedAt,
    stop: () => stopChild(child),
  };
}
