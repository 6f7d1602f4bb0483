import { describe, expect, it } from 'vitest';
import { ConfigError, displayPath, fieldPath, formatIssue } from './issues.js';
import { parseYaml } from './yaml-source.js';

const text = [
  '# comment',
  'runtime: nodejs22',
  'handlers:',
  '  - url: /a',
  '    script: main.app',
  '  - url: /b',
  '    static_dir: static',
  'anchor: &base { x: 1 }',
  'alias: *base',
  '',
].join('\n');

describe('parseYaml', () => {
  const source = parseYaml(text, '/srv/app/app.yaml');

  it('gives the value as plain data', () => {
    expect(source.errors).toEqual([]);
    expect(source.value).toMatchObject({ runtime: 'nodejs22', alias: { x: 1 } });
  });

  it('locates keys and list items, 1-based', () => {
    expect(source.locate(['runtime'])).toEqual({ line: 2, column: 1 });
    expect(source.locate(['handlers', 1])).toEqual({ line: 6, column: 5 });
    expect(source.locate(['handlers', 1, 'static_dir'])).toEqual({ line: 7, column: 5 });
    expect(source.locate(['alias', 'x'])).toEqual({ line: 8, column: 17 });
  });

  it('falls back to the nearest parent, then to the document start', () => {
    expect(source.locate(['handlers', 1, 'login'])).toEqual({ line: 6, column: 5 });
    expect(source.locate(['handlers', 7, 'url'])).toEqual({ line: 3, column: 1 });
    expect(source.locate(['nope'])).toEqual({ line: 2, column: 1 });
    expect(parseYaml('', 'empty.yaml').locate(['a'])).toEqual({ line: 1, column: 1 });
  });

  it('reports syntax errors and duplicate keys with their position', () => {
    const broken = parseYaml('a: 1\nb:\n  c: 1\n  c: 2\n', 'x.yaml');
    expect(broken.value).toBeUndefined();
    expect(broken.errors).toEqual([
      expect.objectContaining({ line: 4, column: 3, field: 'b.c', message: "duplicate key 'c'" }),
    ]);
    const unclosed = parseYaml('a: [1, 2\n', 'x.yaml');
    expect(unclosed.errors).toHaveLength(1);
    expect(unclosed.errors[0]?.message).toMatch(/^invalid YAML: /);
  });

  it('refuses more than one document and unknown aliases', () => {
    expect(parseYaml('a: 1\n---\nb: 2\n', 'x.yaml').errors[0]).toMatchObject({
      line: 2,
      message: 'invalid YAML: the file contains more than one YAML document',
    });
    expect(parseYaml('a: *nope\n', 'x.yaml').errors[0]?.message).toMatch(/^invalid YAML: /);
  });
});

describe('issues', () => {
  const issue = {
    file: '/srv/app/app.yaml',
    line: 12,
    column: 5,
    field: 'handlers[2].url',
    message: "must not start with '^'",
    fix: "remove the leading '^'; urls are implicitly anchored",
  };

  it('formats one issue per line, with the file relative to cwd', () => {
    expect(formatIssue(issue, '/srv/app')).toBe(
      "app.yaml:12:5 handlers[2].url: must not start with '^'. Fix: remove the leading '^'; urls are implicitly anchored.",
    );
    expect(formatIssue(issue, '/elsewhere')).toMatch(/^\/srv\/app\/app\.yaml:12:5 /);
    expect(
      formatIssue({ ...issue, line: 0, column: 0, field: '', file: '/srv/app/big.bin' }, '/srv/app'),
    ).toMatch(/^big\.bin: must not/);
  });

  it('names paths as they are written', () => {
    expect(fieldPath(['handlers', 2, 'url'])).toBe('handlers[2].url');
    expect(fieldPath(['env_variables', 'A B'])).toBe('env_variables["A B"]');
    expect(fieldPath([])).toBe('');
    expect(displayPath('/srv/app', '/srv/app')).toBe('.');
    expect(displayPath('rel/app.yaml', '/x')).toBe('rel/app.yaml');
  });

  it('ConfigError carries every issue and lists them in its message', () => {
    const err = new ConfigError([issue, { ...issue, line: 13 }]);
    expect(err.code).toBe('HANGAR_E_CONFIG_INVALID');
    expect(err.issues).toHaveLength(2);
    expect(err.message.split('\n')).toHaveLength(2);
  });
});
