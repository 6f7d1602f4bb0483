/**
 * nginx → bare node:http (issue 21): the self-hosting anchor. Debian's nginx (installed with
 * apt-get when missing) in the foreground, as a child of the suite, proxying with keep-alive
 * to a bare node:http target of its own; config, pid file, logs and temp files in a temp dir.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stopChild, track } from './children.js';
import { processTree } from './cpu.js';
import { firstCorrect } from './probe.js';
import { bareNode, helloAnswer, helloRequest, NotInstalled, type Target } from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** The nginx binary, installed with `apt-get install -y -qq nginx` if it is missing; throws NotInstalled if that fails. */
function nginxBinary(): string {
  if (!has('nginx') && has('apt-get'))
    spawnSync('apt-get', ['install', '-y', '-qq', 'nginx'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    });
  if (has('nginx')) return 'nginx';
  if (spawnSync('/usr/sbin/nginx', ['-v']).status === 0) return '/usr/sbin/nginx';
  throw new NotInstalled('nginx not installed');
}

/** `nginx -v` prints `nginx version: nginx/1.22.1` on stderr. */
function nginxVersion(binary: string): string {
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return `${out.stderr}${out.stdout}`.match(/nginx\/(\S+)/)?.[1] ?? 'unknown version';
}

/** A free port on 127.0.0.1 (nginx cannot be told port 0): listen on 0, read it, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 2m;
  upstream node { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** nginx (master + 1 worker) in front of bare node:http; both stopped by their pids. */
export async function nginxToBareNode(): Promise<Target> {
  const binary = nginxBinary();
  const version = nginxVersion(binary);
  const upstream = await bareNode();
  const dir = makeTempDir('nginx');
  // Run as root, nginx's worker is `nobody`: it must reach the temp paths nginx makes in here.
  chmodSync(dir, 0o755);
  const stop = async (child?: ReturnType<typeof spawn>) => {
    if (child) await stopChild(child, 'SIGQUIT');
    await upstream.stop();
    removeTempDir(dir);
  };
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const port = await freePort();
    const config = join(dir, 'nginx.conf');
    writeFileSync(config, nginxConfig(dir, port, Number(new URL(upstream.url).port)));
    execFileSync(binary, ['-t', '-q', '-p', dir, '-e', `${dir}/error.log`, '-c', config], { stdio: 'pipe' });
    const spawnedAt = performance.now();
    const started = spawn(binary, ['-p', dir, '-e', `${dir}/error.log`, '-c', config], { stdio: 'ignore' });
    child = track(started);
    const url = `http://127.0.0.1:${port}/`;
    const exited = new Promise<never>((_, reject) =>
      started.once('exit', (code, signal) =>
        reject(new Error(`nginx exited (${signal ?? code}); see its error.log`)),
      ),
    );
    exited.catch(() => {});
    await Promise.race([firstCorrect(url, helloRequest, helloAnswer, 15_000), exited]);
    return {
      name: `nginx ${version} → bare node:http`,
      url,
      pid: started.pid!,
      spawnedAt,
      stop: () => stop(started),
      cpu: async () => [
        ...(await processTree(started.pid!)).map((p) => ({ ...p, label: 'nginx master + worker' })),
        ...(await processTree(upstream.pid)).map((p) => ({ ...p, label: 'upstream node' })),
      ],
    };
  } catch (err) {
    await stop(child);
    throw err;
  }
}
