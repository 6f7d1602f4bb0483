// Each script is run as Hangar runs it: an executable with the request's CGI meta-variables in
// its environment. Its output must be a header block, an empty line, then the body.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

function runCgi(script, { method = 'GET', path = '/', query = '' } = {}) {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const output = execFileSync(file, {
    cwd: fileURLToPath(new URL('./cgi-bin/', import.meta.url)),
    input: '',
    // Only what a CGI script gets: nothing else of this shell's environment leaks into the test.
    env: {
      PATH: process.env.PATH,
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: method,
      PATH_INFO: path,
      QUERY_STRING: query,
      SCRIPT_NAME: '',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: '8080',
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_SOFTWARE: 'test',
      REMOTE_ADDR: '127.0.0.1',
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  }).toString();
  const end = output.search(/\r?\n\r?\n/);
  assert.ok(end >= 0, `no empty line after the headers in:\n${output}`);
  const headers = output.slice(0, end).split(/\r?\n/);
  const body = output.slice(end).replace(/^\r?\n\r?\n/, '');
  return { headers, body };
}

test('/ is an HTML page that says hello', () => {
  const { headers, body } = runCgi('./cgi-bin/index.sh');
  assert.ok(headers.includes('Content-Type: text/html; charset=utf-8'), headers.join('\n'));
  assert.match(body, /<h1>Hello from CGI!<\/h1>/);
});

test('/hello greets the name in the query string', () => {
  const { headers, body } = runCgi('./cgi-bin/hello.sh', { path: '/hello', query: 'name=Hangar' });
  assert.ok(headers.includes('Content-Type: text/plain; charset=utf-8'), headers.join('\n'));
  assert.equal(body, 'Hello, Hangar!\n');
});

test('/hello keeps anything but letters and digits out of its answer', () => {
  const { body } = runCgi('./cgi-bin/hello.sh', { path: '/hello', query: 'name=%3Cscript%3E' });
  assert.equal(body, 'Hello, world!\n');
});
