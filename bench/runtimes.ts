/**
 * The runtimes scenario (issue 21): hello on each Node major that app.yaml's `runtime:` offers,
 * on ONE `hangar serve`: bench/app deployed once per major as versions r18, r20, ... of the app
 * `bench`, each measured through its own host (`Host: r22-dot-bench`), nodejs20 the baseline.
 *
 * Each major's Node comes from the cache the runtime tests use (scripts/fetch-test-runtimes.mjs:
 * `~/.cache/hangar-test-runtimes` or HANGAR_TEST_RUNTIMES_DIR), found or fetched there once by
 * the platform's own code (`resolveNodeRuntime`), and handed to `hangar serve` as
 * `runtimes.nodejsNN` paths in its platform config, so its fresh data dir never downloads. The
 * platform's own major needs nothing. A major that cannot be had is a row "not measured: why".
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RUNTIMES } from '../src/config/app-schema.js';
import { type NodeRuntime, resolveNodeRuntime } from '../src/versions/node-runtimes.js';
import { hello } from './app/payload.mjs';
import { firstLine } from './format.js';
import type { HttpScenario, TargetSpec } from './http-runner.js';
import {
  appDir,
  benchApp,
  deploy,
  NotInstalled,
  type ServeProcess,
  serveName,
  startServe,
  stopHangar,
  type Target,
} from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

/** Every `runtime: nodejsNN` (plain `nodejs` is one of these, the newest at hand). */
const majors = RUNTIMES.filter((r) => r !== 'nodejs');
const baseline = 'nodejs20';

const cacheRoot = process.env.HANGAR_TEST_RUNTIMES_DIR ?? join(homedir(), '.cache', 'hangar-test-runtimes');

const versionOf = (runtime: string) => `r${runtime.slice('nodejs'.length)}`;
/**
 * The host of one version of the app (docs/routing.md, `VERSION-dot-APP`), under `hangar serve`'s
 * default domain: a host without `.localhost` is not read, and goes to the promoted version.
 */
const hostOf = (runtime: string) => `${versionOf(runtime)}-dot-${benchApp.application}.localhost`;

interface Deployed {
  serve: ServeProcess;
  /** Runtime → why it has no version on the platform (a Node that cannot be had, a failed deploy). */
  missing: Map<string, Error>;
  nodes: Map<string, NodeRuntime>;
  apps: string[];
}

let setup: Promise<Deployed> | undefined;

/** bench/app with `runtime:` set, in a temp dir. */
function appWith(runtime: string): string {
  const dir = makeTempDir(`runtime-${runtime}`);
  cpSync(appDir, dir, { recursive: true });
  const yaml = readFileSync(join(appDir, 'app.yaml'), 'utf8').replace(
    /^runtime: .*$/m,
    `runtime: ${runtime}`,
  );
  writeFileSync(join(dir, 'app.yaml'), yaml);
  return dir;
}

/** Resolves every major's Node, starts one `hangar serve` and deploys a version per major it has. */
async function deployAll(log: (line: string) => void): Promise<Deployed> {
  const missing = new Map<string, Error>();
  const nodes = new Map<string, NodeRuntime>();
  for (const runtime of majors) {
    try {
      nodes.set(runtime, await resolveNodeRuntime(runtime, { dataDir: cacheRoot, log }));
    } catch (err) {
      missing.set(runtime, new NotInstalled(firstLine(err)));
    }
  }
  const configured = [...nodes].filter(([, node]) => node.source !== 'platform');
  const config = configured.length
    ? `runtimes:\n${configured.map(([runtime, node]) => `  ${runtime}: ${JSON.stringify(node.execPath)}\n`).join('')}`
    : undefined;
  // The baseline first: `startServe` waits for GET / on the version it deploys.
  const order = [...nodes.keys()].sort((a, b) => (a === baseline ? -1 : b === baseline ? 1 : 0));
  if (!order.length) throw new Error('no Node runtime could be had');
  const apps = order.map(appWith);
  let serve: ServeProcess;
  try {
    serve = await startServe({ app: apps[0], version: versionOf(order[0]!), ...(config ? { config } : {}) });
  } catch (err) {
    for (const app of apps) removeTempDir(app);
    throw err;
  }
  for (const [i, runtime] of order.entries()) {
    if (i === 0) continue;
    log(`runtimes: deploying ${runtime} as ${versionOf(runtime)}`);
    await deploy(serve, apps[i]!, versionOf(runtime), ['--no-promote']).catch((err: unknown) =>
      missing.set(runtime, new Error(firstLine(err))),
    );
  }
  return { serve, missing, nodes, apps };
}

/** GET /version through `host`: the `process.version` of the instance that answers. */
function nodeVersion(url: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL('/version', url), { headers: { Host: host }, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /version: ${res.statusCode} ${body}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error('GET /version: no answer within 30 s')));
    req.on('error', reject);
    req.end();
  });
}

function spec(runtime: string, log: (line: string) => void): TargetSpec {
  return {
    role: 'other',
    headers: { Host: hostOf(runtime) },
    async start(): Promise<Target> {
      setup ??= deployAll(log);
      const { serve, missing } = await setup;
      const problem = missing.get(runtime);
      if (problem) throw problem;
      // A wrong host reaches the promoted version, which says hello too: its Node tells them apart.
      const version = await nodeVersion(serve.url, hostOf(runtime));
      if (version.split('.')[0] !== `v${runtime.slice('nodejs'.length)}`)
        throw new Error(`${hostOf(runtime)} answered from Node ${version}, not the ${runtime} version's`);
      return {
        name: `${serveName}, runtime: ${runtime}`,
        url: serve.url,
        pid: serve.child.pid!,
        spawnedAt: serve.spawnedAt,
        nodeVersion: version,
        // One platform for all the rows: stopped by `after`, once every row is measured.
        stop: async () => {},
      };
    },
  };
}

/** Stops the shared `hangar serve`; the lines say where each row's Node came from. */
async function finish(): Promise<string[]> {
  if (!setup) return [];
  const deployed = await setup.catch(() => undefined);
  setup = undefined;
  if (!deployed) return [];
  await stopHangar(deployed.serve);
  for (const app of deployed.apps) removeTempDir(app);
  const from = (node: NodeRuntime) =>
    node.source === 'platform'
      ? "the platform's own Node"
      : `\`runtimes:\` → ${node.execPath.replace(homedir(), '~')} (${node.source === 'downloaded' ? 'fetched into the runtime cache by this run' : 'in the runtime cache'})`;
  return [
    `One \`${serveName}\` (Node ${process.version}), bench/app deployed with \`hangar deploy\` once per runtime as ` +
      `versions ${majors.map(versionOf).join(', ')} of \`${benchApp.application}\`, each loaded through its own host ` +
      `(\`Host: ${hostOf(baseline)}\`, ...); \`process.version\` is what GET /version answered on that host. Nodes: ` +
      `${[...deployed.nodes].map(([runtime, node]) => `${runtime} ${from(node)}`).join('; ')}.`,
  ];
}

export function runtimesScenario(log: (line: string) => void): HttpScenario {
  const rows = [...majors];
  return {
    name: 'runtimes',
    description:
      'GET / → "Hello, World!" (as hello) on each Node major `runtime:` offers, one `hangar serve`, one version per runtime',
    request: { path: '/', method: 'GET', headers: {} },
    expected: { status: 200, body: hello, gzip: false },
    targets: rows.map((runtime) => spec(runtime, log)),
    baseline: { index: rows.indexOf(baseline), name: baseline },
    after: finish,
  };
}
