import { createServer } from 'node:http';

// Hangar, like App Engine, tells the server its port in PORT; 8080 when started by hand.
const port = Number(process.env.PORT ?? 8080);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Hello from your own server!\n');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`Nothing at ${url.pathname}.\n`);
});

// HOST unset: every interface, as App Engine needs (Hangar itself keeps the server on
// 127.0.0.1). The test sets HOST=127.0.0.1 so that nothing outside this machine can reach it.
server.listen(port, process.env.HOST, () => {
  // The port actually taken: with PORT=0 the system picked it, and the test reads it here.
  console.log(`listening on port ${server.address().port}`);
});
