// app.request() runs a request through the Hono app in this process: no server, no port.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { app } from './main.js';

test('GET / says hello', async () => {
  const response = await app.request('/');
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'Hello from Hono!\n');
});

test('GET /hello/:name answers with JSON', async () => {
  const response = await app.request('/hello/hangar');
  assert.deepEqual(await response.json(), { hello: 'hangar' });
});
