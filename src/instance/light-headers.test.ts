import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { lightHeaders, plainHeaderPairs } from './light-headers.js';

const run = promisify(execFile);

/** Everything a reader sees of a Headers, in one comparable value. */
function seen(headers: Headers, names: string[]) {
  const each: Array<[string, string, boolean]> = [];
  headers.forEach((value, name, self) => {
    each.push([name, value, self === headers]);
  });
  return {
    entries: [...headers],
    keys: [...headers.keys()],
    values: [...headers.values()],
    each,
    got: names.map((name) => [headers.get(name), headers.has(name)]),
    cookies: headers.getSetCookie(),
    tag: Object.prototype.toString.call(headers),
  };
}

describe('lightHeaders (the instance’s Headers stand-in, light-headers.ts)', () => {
  it.each<[string, Array<[string, string]>]>([
    ['none', []],
    ['one', [['Content-Type', 'text/plain']]],
    [
      'sorted and combined as Fetch does, each set-cookie on its own',
      [
        ['x-b', '2'],
        ['X-A', '1'],
        ['set-cookie', 'a=1'],
        ['x-b', '3'],
        ['Set-Cookie', 'b=2; Path=/'],
        ['accept', ' */* '],
      ],
    ],
    ['blanks around a value and tabs inside', [['x-t', '\t a\tb  ']]],
  ])('reads like the real Headers: %s', (_, pairs) => {
    const light = lightHeaders(pairs)!;
    const real = new Headers(pairs);
    const names = ['content-type', 'X-B', 'set-cookie', 'accept', 'x-t', 'missing'];
    expect(seen(light, names)).toEqual(seen(real, names));
    expect(light).toBeInstanceOf(Headers);
  });

  it('turns real on a change, and then answers as the real one', () => {
    const light = lightHeaders([['a', '1']])!;
    light.append('b', '2');
    light.set('a', '3');
    light.delete('missing');
    const real = new Headers([['a', '1']]);
    real.append('b', '2');
    real.set('a', '3');
    expect(seen(light, ['a', 'b'])).toEqual(seen(real, ['a', 'b']));
  });

  it('leaves what only the real Headers can judge to it', () => {
    expect(lightHeaders([['bad name', 'x']])).toBeUndefined();
    expect(lightHeaders([['x', 'line\nbreak']])).toBeUndefined();
    expect(lightHeaders([['x', 'Grüße']])).toBeUndefined();
    // A name that is no token is refused by the real Headers, through the stand-in.
    expect(() => lightHeaders([['a', '1']])!.get('bad name')).toThrow(TypeError);
    expect(plainHeaderPairs({ a: '1', B: '2' })).toEqual([
      ['a', '1'],
      ['B', '2'],
    ]);
    expect(plainHeaderPairs([['a', '1']])).toEqual([['a', '1']]);
    expect(plainHeaderPairs(undefined)).toEqual([]);
    for (const unusual of [
      new Headers(),
      { a: 1 },
      [['a']],
      { [Symbol('s')]: 'x' },
      new Map([['a', '1']]),
      'a',
    ])
      expect(plainHeaderPairs(unusual)).toBeUndefined();
  });
});

describe("Node's fetch classes stay unloaded for a plain handler (web-globals.ts)", () => {
  it('a lazy Request read and a light Response answered load nothing; instanceof then loads and holds', async () => {
    // A process of its own: this one has loaded Node's fetch classes long ago.
    const module = (name: string) => JSON.stringify(new URL(name, import.meta.url).href);
    const script = `
      const loaded = () => process.moduleLoadList.some((m) => m.includes('undici'));
      const { installLightResponse, lightResponseBytes } = await import(${module('./light-response.ts')});
      const { lazyRequest } = await import(${module('./lazy-request.ts')});
      const steps = [loaded()];
      installLightResponse();
      const request = lazyRequest({ method: 'GET', url: 'http://a.test/x?y=1', headers: ['host', 'a.test', 'accept', '*/*'], body: Buffer.alloc(0) });
      const answer = new Response('hi ' + new URL(request.url).pathname + request.headers.get('accept'), { headers: { 'x-a': '1' } });
      const bytes = lightResponseBytes(answer).bytes.toString();
      const headers = [...answer.headers];
      steps.push(answer instanceof Response, answer.headers.getSetCookie().length, loaded());
      steps.push(request instanceof Request, loaded(), answer instanceof Response, answer.headers instanceof Headers);
      steps.push(request.headers instanceof Headers, request.signal instanceof AbortSignal, typeof Response.json);
      process.stdout.write(JSON.stringify({ steps, bytes, headers }));
    `;
    const tsx = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).href;
    const { stdout } = await run(process.execPath, ['--import', tsx, '--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual({
      steps: [false, true, 0, false, true, true, true, true, true, true, 'function'],
      bytes: 'hi /x*/*',
      headers: [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-a', '1'],
      ],
    });
  });
});
