/**
 * The load generator: wrk when it is on PATH (BASELINES: it is lighter than autocannon on two
 * shared cores and reports sub-millisecond latency), else autocannon. One round = `seconds` of
 * load on `connections` keep-alive connections, no pipelining.
 */
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { track } from './children.js';
import { makeTempDir, removeTempDir } from './temp.js';

const run = promisify(execFile);

/** One kind of request, sent over and over. */
export interface LoadRequest {
  path: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** A body of this many bytes (`x` repeated). */
  bodyBytes?: number;
}

export interface Round {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Connect, read and write errors and timeouts. */
  errors: number;
  /** Responses with a status of 400 or more (wrk's "Non-2xx or 3xx"), or not 2xx (autocannon). */
  non2xx: number;
}

export interface LoadGenerator {
  name: string;
  round(url: string, request: LoadRequest, seconds: number, connections: number): Promise<Round>;
  close(): void;
}

/** A request slower than this counts as an error (a timeout) rather than a latency sample. */
const timeoutSeconds = 5;

export function loadGenerator(): LoadGenerator {
  return spawnSync('wrk', ['-v']).error ? autocannonGenerator() : wrkGenerator();
}

function wrkGenerator(): LoadGenerator {
  const version = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.match(/^wrk (\S+)/)?.[1] ?? '';
  const dir = makeTempDir('wrk');
  const scripts = new Map<LoadRequest, string>();
  const script = (request: LoadRequest) => {
    let file = scripts.get(request);
    if (!file) {
      file = join(dir, `request-${scripts.size}.lua`);
      writeFileSync(file, luaScript(request));
      scripts.set(request, file);
    }
    return file;
  };
  return {
    name: ['wrk', version, '(1 thread)'].filter(Boolean).join(' '),
    async round(url, request, seconds, connections) {
      const wrk = run(
        'wrk',
        [
          '-t1',
          `-c${connections}`,
          `-d${seconds}s`,
          `--timeout=${timeoutSeconds}s`,
          '--latency',
          '-s',
          script(request),
          new URL(request.path, url).href,
        ],
        { timeout: (seconds + timeoutSeconds + 10) * 1000 },
      );
      track(wrk.child);
      return parseWrk((await wrk).stdout);
    },
    close: () => removeTempDir(dir),
  };
}

/** wrk's request, set from Lua: method, headers and (generated there, not written out) the body. */
function luaScript(request: LoadRequest): string {
  const lines = [`wrk.method = ${JSON.stringify(request.method)}`];
  for (const [name, value] of Object.entries(request.headers))
    lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  if (request.bodyBytes) lines.push(`wrk.body = string.rep("x", ${request.bodyBytes})`);
  return `${lines.join('\n')}\n`;
}

const toMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function latency(output: string, percentile: string): number {
  const match = output.match(new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm'));
  if (!match) throw new Error(`wrk printed no ${percentile}% latency:\n${output}`);
  return Number(match[1]) * toMs[match[2]!]!;
}

/** Reads `wrk --latency` output (it has no machine-readable format without a Lua `done` hook). */
function parseWrk(output: string): Round {
  const reqPerSec = output.match(/^Requests\/sec:\s+([\d.]+)/m);
  const requests = output.match(/^\s*(\d+) requests in /m);
  if (!reqPerSec || !requests) throw new Error(`unexpected wrk output:\n${output}`);
  const socket = output.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    reqPerSec: Number(reqPerSec[1]),
    p50Ms: latency(output, '50'),
    p99Ms: latency(output, '99'),
    requests: Number(requests[1]),
    errors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    non2xx: Number(output.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
  };
}

function autocannonGenerator(): LoadGenerator {
  const bodies = new Map<number, Buffer>();
  const body = (bytes: number) =>
    bodies.get(bytes) ?? bodies.set(bytes, Buffer.alloc(bytes, 'x')).get(bytes)!;
  return {
    name: 'autocannon (wrk is not on PATH)',
    async round(url, request, seconds, connections) {
      const result = await autocannon({
        url: new URL(request.path, url).href,
        connections,
        duration: seconds,
        pipelining: 1,
        timeout: timeoutSeconds,
        method: request.method,
        headers: request.headers,
        ...(request.bodyBytes ? { body: body(request.bodyBytes) } : {}),
      });
      return {
        reqPerSec: result.requests.average,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        requests: result.requests.total,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
      };
    },
    close() {},
  };
}
