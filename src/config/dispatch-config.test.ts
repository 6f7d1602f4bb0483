import { describe, expect, it } from 'vitest';
import { dispatchService, MAX_DISPATCH_RULES, parseDispatch, parseUrlPattern } from './dispatch-config.js';

const yaml = (rules: string) => `dispatch:\n${rules}`;

describe('dispatch.yaml', () => {
  const rules = parseDispatch(
    yaml(
      [
        '  - url: "*/api/*"',
        '    service: api',
        '  - url: "admin.example.com/*"',
        '    service: admin',
        '  - url: "*.static.example.com/*"',
        '    service: assets',
        '  - url: "*/favicon.ico"',
        '    service: assets',
      ].join('\n'),
    ),
    'dispatch.yaml',
  );

  it.each([
    ['shop.localhost:8080', '/api/items', 'api'],
    ['shop.localhost', '/api/', 'api'],
    ['shop.localhost', '/api', undefined],
    ['ADMIN.example.com', '/users', 'admin'],
    ['cdn.static.example.com', '/a.png', 'assets'],
    ['static.example.com', '/a.png', undefined],
    ['shop.localhost', '/favicon.ico', 'assets'],
    ['shop.localhost', '/favicon.ico.bak', undefined],
    ['shop.localhost', '/', undefined],
  ])('%s %s → %s (first match wins)', (host, path, service) => {
    expect(dispatchService(rules, host, path)).toBe(service);
  });

  it('names the file, line and column of each problem, and how to fix it', () => {
    let message = '';
    try {
      parseDispatch(
        yaml(
          [
            '  - url: "*/a*b"',
            '    service: api',
            '  - url: "http://x/"',
            '    service: Bad_Name',
            '    extra: 1',
          ].join('\n'),
        ),
        'dispatch.yaml',
      );
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/dispatch\.yaml:2:\d+ .*\* may only end the path/);
    expect(message).toMatch(/dispatch\.yaml:4:\d+ .*has a scheme/);
    expect(message).toMatch(/dispatch\.yaml:5:\d+ /);
    expect(message).toMatch(/dispatch\.yaml:6:\d+ .*unknown key 'extra'/);
  });

  it(`refuses more than ${MAX_DISPATCH_RULES} rules`, () => {
    const many = Array.from(
      { length: MAX_DISPATCH_RULES + 1 },
      (_, i) => `  - url: "*/p${i}/*"\n    service: s${i}`,
    );
    expect(() => parseDispatch(yaml(many.join('\n')), 'dispatch.yaml')).toThrow(/at most 20/);
  });

  it('patterns: * only at the host start and the path end', () => {
    expect(parseUrlPattern('*/x')).toEqual({ host: { any: true }, path: { exact: '/x' } });
    expect(parseUrlPattern('a*.com/x')).toMatch(/only start the host/);
    expect(parseUrlPattern('nohost')).toMatch(/has no path/);
    expect(parseUrlPattern('/x')).toMatch(/has no host/);
  });
});
