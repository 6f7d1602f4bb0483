/** Bare node:http serving the suite's routes (node.mjs): the limit one Node process sets. */
import { createServer } from 'node:http';
import { handle } from './node.mjs';

const server = createServer(handle);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
