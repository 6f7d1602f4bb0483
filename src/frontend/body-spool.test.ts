import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BodySpool } from './body-spool.js';
import { bodyLength, isSpooled, type RequestBody, readBody } from './request-body.js';

let runDir: string;
beforeEach(() => {
  runDir = mkdtempSync(join(tmpdir(), 'hangar-spool-unit-'));
});
afterEach(() => rmSync(runDir, { recursive: true, force: true }));

describe('BodySpool', () => {
  it('writes a body to a private file under run/bodies-<pid>-<token>/; remove() unlinks it', () => {
    const spool = new BodySpool(runDir);
    expect(spool.dir.startsWith(join(runDir, `bodies-${process.pid}-`))).toBe(true);
    const file = spool.open();
    file.write(Buffer.from('hello '));
    file.write(Buffer.from('world'));
    const body = file.finish();
    expect(body.length).toBe(11);
    expect(readFileSync(body.file, 'utf8')).toBe('hello world');
    expect(statSync(body.file).mode & 0o777).toBe(0o600);
    expect(spool.slots).toEqual({ free: 0, lent: 1 });
    spool.remove(body);
    expect(existsSync(body.file)).toBe(false);
    expect(spool.slots).toEqual({ free: 0, lent: 0 });
    spool.close();
    expect(existsSync(spool.dir)).toBe(false);
  });

  it('a recycled slot takes the next body from its start; its length says where that body ends', () => {
    const spool = new BodySpool(runDir);
    const first = spool.open();
    first.write(Buffer.from('a longer first body'));
    const one = first.finish();
    spool.recycle(one);
    expect(spool.slots).toEqual({ free: 1, lent: 0 });
    const second = spool.open();
    second.write(Buffer.from('short'));
    const two = second.finish();
    expect(two.file).toBe(one.file);
    expect(readFileSync(two.file).subarray(0, two.length).toString()).toBe('short');
    spool.close();
  });

  it('a slot that held more than 4 MiB is not kept', () => {
    const spool = new BodySpool(runDir);
    const file = spool.open();
    file.write(Buffer.alloc(4 * 1024 * 1024 + 1));
    const body = file.finish();
    spool.recycle(body);
    expect(existsSync(body.file)).toBe(false);
    expect(spool.slots).toEqual({ free: 0, lent: 0 });
    spool.close();
  });

  it('gives back what it wrote when the body has to go on in memory, and drops the slot', () => {
    const spool = new BodySpool(runDir);
    const file = spool.open();
    file.write(Buffer.from('abc'));
    expect(file.takeBack().toString()).toBe('abc');
    expect(existsSync(file.file)).toBe(false);
    spool.close();
  });
});

/** A server that reads each request's body with readBody and answers what it got. */
async function bodyServer(spool: BodySpool | undefined, seen: RequestBody[]): Promise<Server> {
  const server = createServer((req, res) => {
    readBody(req, res, 8 * 1024 * 1024, 0, spool).body.then(
      (body) => {
        seen.push(body);
        const bytes = isSpooled(body)
          ? readFileSync(body.file).subarray(0, body.length)
          : Buffer.concat(body as Buffer[]);
        if (isSpooled(body)) spool?.recycle(body);
        res.end(
          JSON.stringify({ length: bodyLength(body), spooled: isSpooled(body), same: bytes.equals(sent) }),
        );
      },
      (err: Error) => res.writeHead(413).end(err.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

let sent: Buffer = Buffer.alloc(0);

function post(server: Server, body: Buffer): Promise<{ status: number; text: string }> {
  sent = body;
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/' }, (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('readBody with a spool', () => {
  it('keeps a body up to the threshold in memory and spools a bigger one, byte for byte', async () => {
    const seen: RequestBody[] = [];
    const spool = new BodySpool(runDir, 1024);
    const server = await bodyServer(spool, seen);
    try {
      expect(JSON.parse((await post(server, randomBytes(1024))).text)).toEqual({
        length: 1024,
        spooled: false,
        same: true,
      });
      expect(JSON.parse((await post(server, randomBytes(300_000))).text)).toEqual({
        length: 300_000,
        spooled: true,
        same: true,
      });
    } finally {
      server.close();
      spool.close();
    }
  });

  it('a body over the limit is refused and its file removed', async () => {
    const seen: RequestBody[] = [];
    const spool = new BodySpool(runDir, 1024);
    const server = await bodyServer(spool, seen);
    try {
      const answer = await post(server, Buffer.alloc(9 * 1024 * 1024));
      expect(answer.status).toBe(413);
      expect(readdirSync(spool.dir)).toEqual([]);
      expect(spool.slots).toEqual({ free: 0, lent: 0 });
    } finally {
      server.close();
      spool.close();
    }
  });

  it('when no spool file can be made, the body stays in memory and nothing is lost', async () => {
    // run/ is a regular file: the spool directory cannot be made under it.
    const blocked = join(runDir, 'not-a-dir');
    writeFileSync(blocked, '');
    const seen: RequestBody[] = [];
    const spool = new BodySpool(blocked, 1024);
    const server = await bodyServer(spool, seen);
    try {
      expect(JSON.parse((await post(server, randomBytes(200_000))).text)).toEqual({
        length: 200_000,
        spooled: false,
        same: true,
      });
    } finally {
      server.close();
    }
  });
});
