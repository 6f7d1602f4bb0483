/**
 * The HTTP scenarios of issue 7: what is sent, what the right answer is, and who serves it.
 * Every scenario measures bare node:http first (the baseline of the ratios), then Hangar as a
 * developer runs it (`hangar dev`) and in production (`hangar serve` with bench/app deployed by
 * `hangar deploy`), then the peers.
 */
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hello, json } from './app/payload.mjs';
import type { HttpScenario, TargetSpec } from './http-runner.js';
import { verifyNoLineLost } from './logging.js';
import { nginxToBareNode } from './nginx.js';
import { functionsFramework, workerd } from './peers.js';
import {
  appDir,
  bareNode,
  hangar,
  hangarInstances,
  serve,
  serveName,
  startServe,
  stopHangar,
  type Target,
} from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';
import { bareNodeFetching, serveFetching, stopUpstream, upstreamBody } from './urlfetch.js';

const targets = (): TargetSpec[] => [
  { role: 'bare', start: bareNode },
  { role: 'dev', start: () => hangar({ watch: true }) },
  { role: 'production', start: () => serve() },
  { role: 'workerd', start: workerd },
  { role: 'functions-framework', start: functionsFramework },
];

/** With nginx → bare node:http (issue 21), in the scenarios where a proxy in front of Node is the question: hello, json-gzip, post-1mib. */
const withNginx = (): TargetSpec[] => [...targets(), { role: 'nginx', start: nginxToBareNode }];

const mib = 2 ** 20;

/** Hangar gzips for clients whose Accept-Encoding and User-Agent both take gzip (SPEC S5 step 7). */
const gzipHeaders = { 'accept-encoding': 'gzip', 'user-agent': 'Mozilla/5.0 (hangar-bench; gzip)' };

export const httpScenarios: HttpScenario[] = [
  {
    name: 'hello',
    description: 'GET / → 13-byte text/plain "Hello, World!"',
    request: { path: '/', method: 'GET', headers: {} },
    expected: { status: 200, body: hello, gzip: false },
    targets: withNginx(),
    cpu: true,
  },
  {
    name: 'json-gzip',
    description: `GET /json with Accept-Encoding: gzip → ${json.length}-byte JSON document, gzipped per response (node:zlib in the Node targets, Hangar's front end, workerd's own)`,
    request: { path: '/json', method: 'GET', headers: gzipHeaders },
    expected: { status: 200, body: json, gzip: true },
    targets: withNginx(),
  },
  {
    name: 'post-1mib',
    description: 'POST /upload with a 1 MiB application/octet-stream body → its length as text',
    request: {
      path: '/upload',
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      bodyBytes: mib,
    },
    expected: { status: 200, body: String(mib), gzip: false },
    targets: withNginx(),
  },
  {
    name: 'logging',
    description:
      'GET /log → the handler logs 10 lines (console.log), then "Hello, World!"; Node targets write them to a ' +
      'stdout pipe the suite drains, Hangar stores them with the request (`hangar dev` also prints them to its ' +
      'terminal, a pipe the suite drains; `hangar serve` prints nothing). The no-logging row is another ' +
      '`hangar serve` on GET /. The cost of 10 lines is judged on one `hangar serve` measured on /log and / back ' +
      'to back in pairs (the paired figure below); the two rows compare separate processes in distant rounds',
    request: { path: '/log', method: 'GET', headers: {} },
    expected: { status: 200, body: hello, gzip: false },
    targets: [
      ...targets(),
      {
        role: 'production-no-logging',
        start: () => serve(),
        path: '/',
        label: 'GET / (no logging)',
      },
    ],
    paired: { role: 'production', path: '/', label: 'GET / (no logging)' },
    after: () => verifyNoLineLost(),
  },
  {
    name: 'urlfetch',
    description:
      'GET /fetch → the handler fetches a short text from a node:http server on 127.0.0.1 (the suite’s own ' +
      'process) with the global fetch and answers with it; bare Node calls it directly, `hangar serve` through ' +
      'URL Fetch (the socket service makes the call; the upstream in `sockets.allow`)',
    request: { path: '/fetch', method: 'GET', headers: {} },
    expected: { status: 200, body: upstreamBody, gzip: false },
    targets: [
      { role: 'bare', start: bareNodeFetching },
      { role: 'production', start: serveFetching },
    ],
    after: () => stopUpstream(),
  },
];

/** Not in the default run (BENCH_SCENARIOS=pool): hello on a pool of exactly 1 and 2 instances. */
export const poolScenario: HttpScenario = {
  name: 'pool',
  description: 'hello on `hangar serve` with bench/app deployed under manual_scaling: 1 instance vs 2',
  request: { path: '/', method: 'GET', headers: {} },
  expected: { status: 200, body: hello, gzip: false },
  targets: [
    { role: 'bare', start: bareNode },
    { role: 'other', start: () => hangarPool(1) },
    { role: 'other', start: () => hangarPool(2) },
  ],
};

/** bench/app deployed under `manual_scaling: instances: N`, measured once all N are ready. */
async function hangarPool(instances: number): Promise<Target> {
  const app = makeTempDir(`pool${instances}`);
  cpSync(appDir, app, { recursive: true });
  writeFileSync(
    join(app, 'app.yaml'),
    `runtime: nodejs20\nmanual_scaling:\n  instances: ${instances}\nhandlers:\n  - url: /.*\n    script: main.app\n`,
  );
  let started: Awaited<ReturnType<typeof startServe>>;
  try {
    started = await startServe({ app });
  } catch (err) {
    removeTempDir(app);
    throw err;
  }
  const stop = async () => {
    await stopHangar(started);
    removeTempDir(app);
  };
  const deadline = Date.now() + 30_000;
  while ((await hangarInstances(started)).filter((i) => i.state === 'ready').length < instances) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${instances} instances not ready within 30 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name: `${serveName}, ${instances} instance${instances > 1 ? 's' : ''}`,
    url: started.url,
    pid: started.child.pid!,
    spawnedAt: started.spawnedAt,
    stop,
  };
}
