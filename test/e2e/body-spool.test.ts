/**
 * Request bodies past the spool threshold (64 KiB) wait for their instance in a file of the data
 * dir's run/ (src/frontend/body-spool.ts), against a real `hangar dev`: the app gets every byte
 * over the request channel and over HTTP (a Node handler), many at once, and a shorter body in a
 * slot an earlier, longer one used; a body refused with 413 or abandoned by its client leaves no
 * file; and a spool directory left by a platform process that died goes at the next start.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { openSocket, readResponse } from '../helpers/raw-http.js';

interface Echo {
  bodyLength: number;
  bodySha256: string;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function post(url: string, path: string, body: Buffer): Promise<{ status: number; json: Echo }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolve({ status: res.statusCode!, json: JSON.parse(text) as Echo });
          } catch {
            reject(new Error(`${res.statusCode}: ${text}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The files in this platform's spool directories (run/bodies-*). */
function spooledFiles(dataDir: string): string[] {
  const run = join(dataDir, 'run');
  return readdirSync(run)
    .filter((name) => name.startsWith('bodies-'))
    .flatMap((dir) => readdirSync(join(run, dir)).map((file) => join(dir, file)));
}

/** Polls until no spooled file is left (the request's cleanup runs as its exchange ends). */
async function untilNoSpooledFiles(dataDir: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const left = spooledFiles(dataDir);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`spooled bodies left behind: ${left.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('request bodies spooled to run/ (S5 step 5)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([join(repoRoot, 'test/fixtures/pipeline')], ['--no-watch']);
  });
  afterAll(() => dev.stop());

  // First, with no slot kept yet: a body that fails leaves its directory empty.
  it('a chunked body crossing max_request_bytes is a 413 and leaves no file', async () => {
    const socket = await openSocket(dev.url);
    try {
      const response = readResponse(socket);
      socket.write('POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(1024 * 1024, 'x');
      const framed = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]);
      // 33 MiB: over the 32 MB limit; the front end reads on and discards after its 413.
      for (let i = 0; i < 33 && !socket.destroyed; i++) {
        if (!socket.write(framed)) await new Promise((resolve) => socket.once('drain', resolve));
      }
      socket.write('0\r\n\r\n');
      expect((await response).status).toBe(413);
    } finally {
      socket.destroy();
    }
    await untilNoSpooledFiles(dev.dataDir);
  });

  it('a client that goes away in the middle of its body leaves no file', async () => {
    const socket = await openSocket(dev.url);
    socket.write('POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4194304\r\n\r\n');
    await new Promise<void>((resolve) => socket.write(randomBytes(512 * 1024), () => resolve()));
    // The body is in a file by now (512 KiB is past the threshold)...
    const deadline = Date.now() + 5_000;
    while (spooledFiles(dev.dataDir).length === 0) {
      if (Date.now() > deadline) throw new Error('the half-sent body never reached the spool');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // ...and goes with its client.
    socket.destroy();
    await untilNoSpooledFiles(dev.dataDir);
    // Node's parser reports the cut body (a 400 in the log: nobody is there to get it).
    await dev.waitFor(/POST \/echo (400|499) /);
  });
  it('a 1 MiB body reaches a fetch handler byte for byte, through a file kept for the next body', async () => {
    const body = randomBytes(1024 * 1024);
    const { status, json } = await post(dev.url, '/echo', body);
    expect(status).toBe(200);
    expect(json.bodyLength).toBe(body.length);
    expect(json.bodySha256).toBe(sha256(body));
    // It went through the spool: one file, kept for the next body.
    expect(spooledFiles(dev.dataDir)).toHaveLength(1);
  });

  it('a shorter body in the slot a longer one used gets its own bytes only', async () => {
    const body = randomBytes(100 * 1024);
    const { status, json } = await post(dev.url, '/echo', body);
    expect(status).toBe(200);
    expect(json.bodyLength).toBe(body.length);
    expect(json.bodySha256).toBe(sha256(body));
    expect(spooledFiles(dev.dataDir)).toHaveLength(1);
  });

  it('a Node (req, res) handler gets the spooled body over HTTP, with its Content-Length', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const { status, json } = await post(dev.url, '/raw/echo', body);
    expect(status).toBe(200);
    expect(json).toMatchObject({
      bodyLength: body.length,
      bodySha256: sha256(body),
      contentLength: String(body.length),
    });
    // Again, shorter, in the slot that body used: only its own bytes reach the handler.
    const shorter = randomBytes(200 * 1024);
    const again = await post(dev.url, '/raw/echo', shorter);
    expect(again.json).toMatchObject({ bodyLength: shorter.length, bodySha256: sha256(shorter) });
  });

  it('bodies on both sides of the threshold, 24 at once, each arrive whole and are not mixed up', async () => {
    const bodies = Array.from({ length: 24 }, (_, i) => randomBytes(i % 2 === 0 ? 300 * 1024 + i : 1000 + i));
    const answers = await Promise.all(bodies.map((body) => post(dev.url, '/echo', body)));
    answers.forEach(({ status, json }, i) => {
      expect(status).toBe(200);
      expect(json.bodySha256).toBe(sha256(bodies[i]!));
    });
    // At most one slot per body that was in a file at once (12), kept for reuse.
    expect(spooledFiles(dev.dataDir).length).toBeLessThanOrEqual(12);
  });
});

describe('spool directories of dead platform processes', () => {
  it('are removed at the next start; a live process keeps its own', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hangar-spool-'));
    // A pid that is certainly gone: a process that ran and was reaped.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = join(dataDir, 'run', `bodies-${gone}-0badc0de`);
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, '0'), 'a body nobody will read');
    // This test's own process is alive: its directory stays.
    const live = join(dataDir, 'run', `bodies-${process.pid}-0badc0de`);
    mkdirSync(live, { recursive: true });
    const dev = await startDev([join(repoRoot, 'test/fixtures/pipeline')], ['--no-watch'], { dataDir });
    try {
      const run = readdirSync(join(dataDir, 'run'));
      expect(run).not.toContain(`bodies-${gone}-0badc0de`);
      expect(run).toContain(`bodies-${process.pid}-0badc0de`);
    } finally {
      await dev.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
