/**
 * One benchmark client run (spawned by bench/sockets.ts): with HANGAR_BENCH_SHIM set it first
 * installs the instance sockets shim, exactly as an instance does, so `net.connect` goes
 * through the socket service; without it, plain loopback TCP (or PORT names a relay's Unix
 * socket). Prints one JSON line.
 *
 * Modes: upload (send BYTES, wait for the sink's 1-byte ack), download (read BYTES from the
 * source), connect (COUNT sequential connects, each until 'connect', then destroy).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const { HANGAR_BENCH_SHIM, MODE, PORT, BYTES, COUNT } = process.env;
// Every mode loads the shim's modules, so the three clients have the same heap (an instance
// has them loaded either way); only the shim mode installs it.
const { installSocketShim } = await import('../dist/sockets/client/install.js');
if (HANGAR_BENCH_SHIM) installSocketShim(JSON.parse(HANGAR_BENCH_SHIM));
const port = Number(PORT);
const total = Number(BYTES);

function connect() {
  return new Promise((resolve, reject) => {
    const target = /^\d+$/.test(PORT) ? { port, host: '127.0.0.1' } : { path: PORT };
    const socket = net.connect(target, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function upload() {
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const start = performance.now();
  const socket = await connect();
  const acked = new Promise((resolve) => socket.once('data', resolve));
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await acked;
  const ms = performance.now() - start;
  socket.destroy();
  return { ms };
}

async function download() {
  const start = performance.now();
  const socket = await connect();
  let received = 0;
  await new Promise((resolve) => {
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received >= total) resolve();
    });
  });
  const ms = performance.now() - start;
  socket.destroy();
  return { ms, received };
}

async function connectLatency() {
  const samples = [];
  for (let i = 0; i < Number(COUNT); i++) {
    const start = performance.now();
    const socket = await connect();
    samples.push(performance.now() - start);
    socket.destroy();
  }
  return { samples };
}

const run = { upload, download, connect: connectLatency }[MODE];
process.stdout.write(`${JSON.stringify(await run())}\n`);
process.exit(0);
