// The handler is a plain function from Request to Response, so it is tested without a server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { app } from './main.js';

test('GET / says hello', async () => {
  const response = app(new Request('http://localhost/'));
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'Hello from Hangar!\n');
});

test('another path is a 404 that points to /', async () => {
  const response = app(new Request('http://localhost/nowhere'));
  assert.equal(response.status, 404);
  assert.match(await response.text(), /Try \//);
});
