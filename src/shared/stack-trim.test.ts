import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { trimStack } from './stack-trim.js';

const hangar = fileURLToPath(new URL('../../dist/instance/fetch-run.js', import.meta.url));

describe('trimStack', () => {
  it("keeps the app's frames and counts Hangar's, Node's and node_modules' ones", () => {
    const stack = [
      'HANGAR_E_HANDLER_FAILED: Error: boom 1',
      '    at inner (/tmp/t1/main.ts:1:43)',
      '    at Object.fetch (/tmp/t1/main.ts:2:138)',
      `    at callFetch (file://${hangar}:21:36)`,
      '    at AsyncLocalStorage.run (node:async_hooks:346:14)',
      '    at Layer.handle (/tmp/t1/node_modules/express/lib/router/layer.js:95:5)',
      '    at Socket.emit (node:events:524:28)',
    ].join('\n');
    expect(trimStack(stack, 'hangar dev --full-traces shows them')).toBe(
      [
        'HANGAR_E_HANDLER_FAILED: Error: boom 1',
        '    at inner (/tmp/t1/main.ts:1:43)',
        '    at Object.fetch (/tmp/t1/main.ts:2:138)',
        '    (4 frames of Hangar, Node and node_modules hidden; hangar dev --full-traces shows them)',
      ].join('\n'),
    );
  });

  it('keeps the first frame of a trace with none of the app’s, so the error has a place', () => {
    const stack =
      'Error: x\n    at parse (/app/node_modules/lib/x.js:1:1)\n    at Socket.emit (node:events:524:28)';
    expect(trimStack(stack)).toBe(
      'Error: x\n    at parse (/app/node_modules/lib/x.js:1:1)\n    (1 frame of Hangar, Node and node_modules hidden)',
    );
  });

  it("shows no frame of a trace that is all Hangar's and Node's, only the count", () => {
    const stack = `Error: the entrypoint exited\n    at start (file://${hangar}:95:19)\n    at run (node:internal/x:1:1)`;
    expect(trimStack(stack)).toBe(
      'Error: the entrypoint exited\n    (2 frames of Hangar, Node and node_modules hidden)',
    );
  });

  it('trims each trace of a cause chain on its own', () => {
    const stack = [
      'Error: outer',
      '    at a (/app/a.ts:1:1)',
      '    at b (node:internal/x:1:1)',
      '  [cause]: Error: inner',
      '    at c (/app/c.ts:2:2)',
    ].join('\n');
    expect(trimStack(stack)).toBe(
      [
        'Error: outer',
        '    at a (/app/a.ts:1:1)',
        '    (1 frame of Hangar, Node and node_modules hidden)',
        '  [cause]: Error: inner',
        '    at c (/app/c.ts:2:2)',
      ].join('\n'),
    );
  });

  it('returns text without a trace as it is', () => {
    const text = 'disk almost full\nsecond line';
    expect(trimStack(text)).toBe(text);
  });
});
