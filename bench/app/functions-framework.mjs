/**
 * The suite's routes (node.mjs) as an HTTP function of @google-cloud/functions-framework. Its
 * own Express server (`getTestServer`, what the `functions-framework` CLI serves, with the
 * same body parsers) listens on 127.0.0.1 and a free port, which the CLI cannot be told to.
 */
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { handle } from './node.mjs';

http('bench', handle);
const server = getTestServer('bench');
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
