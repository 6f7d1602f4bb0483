// server.js is started as `npm start` starts it, in a process of its own with PORT set (0: any
// free port; it prints the one it got), and is asked over HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const server = spawn(process.execPath, [fileURLToPath(new URL('./server.js', import.meta.url))], {
  env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let base = '';

/** Waits for the port server.js says it listens on; fails if it exits first. */
function listening() {
  return new Promise((resolve, reject) => {
    let output = '';
    server.stdout.setEncoding('utf8');
    server.stdout.on('data', (chunk) => {
      output += chunk;
      const match = output.match(/listening on port (\d+)/);
      if (match) {
        base = `http://127.0.0.1:${match[1]}`;
        resolve();
      }
    });
    server.once('exit', (code) =>
      reject(new Error(`server.js exited (${code}) before listening:\n${output}`)),
    );
  });
}

// Bounded: a server that neither listens nor exits fails the test instead of hanging it.
before(listening, { timeout: 10_000 });

after(() => {
  server.kill();
});

test('GET / says hello', async () => {
  const response = await fetch(`${base}/`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'Hello from your own server!\n');
});

test('another path is a 404', async () => {
  const response = await fetch(`${base}/nowhere`);
  assert.equal(response.status, 404);
});
