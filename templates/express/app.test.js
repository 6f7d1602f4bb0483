// The Express app is tested on node:http, as Hangar is not there to provide 'hangar' to main.js.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { expressApp } from './app.js';

const server = createServer(expressApp);
let base = '';

before(async () => {
  // Port 0: any free port; 127.0.0.1: nothing outside this machine can reach the test server.
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  // fetch keeps connections alive, and close() would wait for them to time out.
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('GET / says hello', async () => {
  const response = await fetch(`${base}/`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'Hello from Express!\n');
});

test('GET /hello/:name answers with JSON', async () => {
  const response = await fetch(`${base}/hello/hangar`);
  assert.deepEqual(await response.json(), { hello: 'hangar' });
});
