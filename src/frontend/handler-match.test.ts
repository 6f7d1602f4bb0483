import { describe, expect, it } from 'vitest';
import type { Handler } from '../config/types.js';
import { matchHandler } from './handler-match.js';

const base = {
  secure: 'optional',
  redirectHttpResponseCode: 302,
  login: 'optional',
  authFailAction: 'redirect',
} as const;
const mod = (url: string, script: string): Handler => ({
  ...base,
  kind: 'module',
  url,
  pattern: new RegExp(`^(?:${url})$`),
  script,
  module: `${script.split('.')[0]}.ts`,
  exportName: 'app',
});

describe('matchHandler (S5 step 3)', () => {
  const handlers = [
    mod('/api/.*', 'api.app'),
    {
      ...base,
      kind: 'static-dir',
      url: '/static',
      pattern: /^(?:\/static)\/(.*)$/,
      staticDir: 'public',
      httpHeaders: {},
    },
    mod('/|/home', 'home.app'),
    mod('/.*', 'fallback.app'),
  ] satisfies Handler[];

  it.each([
    ['/api/users', 0],
    ['/static/app.css', 1],
    ['/', 2],
    ['/home', 2],
    ['/homepage', 3], // anchored: '/home' must match the whole path
    ['/x/api/users', 3], // anchored at the start too
  ])('%s → handler %i', (path, index) => {
    expect(matchHandler(handlers, path)?.index).toBe(index);
  });

  it('takes the first match in order, and gives the groups', () => {
    const found = matchHandler(handlers, '/static/css/site.css');
    expect(found?.handler.kind).toBe('static-dir');
    expect(found?.match[1]).toBe('css/site.css');
  });

  it('returns undefined when nothing matches', () => {
    expect(matchHandler(handlers.slice(0, 2), '/other')).toBeUndefined();
  });
});
