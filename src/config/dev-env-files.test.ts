import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isDevEnvFile, withDevEnvFiles } from './dev-env-files.js';
import type { AppConfig } from './types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function app(files: Record<string, string>, envVariables: Record<string, string> = {}): AppConfig {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-dotenv-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, file: join(dir, 'app.yaml'), envVariables } as unknown as AppConfig;
}

describe('withDevEnvFiles', () => {
  it('adds .env, then .env.local over it, to the variables app.yaml does not set', () => {
    const config = app({
      '.env': '# shared settings\nGREETING=hello\nexport MODE="from .env"\n',
      '.env.local': 'MODE=local\nSECRET=s3cret\n',
    });
    const { config: out, files, warnings } = withDevEnvFiles(config);
    expect(out.envVariables).toEqual({ GREETING: 'hello', MODE: 'local', SECRET: 's3cret' });
    expect(files.map((f) => f.slice(config.dir.length + 1))).toEqual(['.env', '.env.local']);
    expect(warnings).toEqual([]);
  });

  it("keeps app.yaml's value for a name set in both, and warns naming the file", () => {
    const config = app({ '.env.local': 'MODE=local\nOTHER=1\n' }, { MODE: 'production' });
    const { config: out, warnings } = withDevEnvFiles(config);
    expect(out.envVariables).toEqual({ MODE: 'production', OTHER: '1' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^MODE is set in both .*\.env\.local and app\.yaml's env_variables; app\.yaml's value is used/,
    );
  });

  it('ignores names that are not variable names, with a warning', () => {
    const { config: out, warnings } = withDevEnvFiles(app({ '.env': '1BAD=x\nGOOD=y\n' }));
    expect(out.envVariables).toEqual({ GOOD: 'y' });
    expect(warnings[0]).toMatch(/'1BAD' is not a variable name/);
  });

  it('returns the config unchanged without either file', () => {
    const config = app({});
    expect(withDevEnvFiles(config).config).toBe(config);
  });

  it('knows the two files of an app folder and nothing else', () => {
    expect(isDevEnvFile('/app/.env', '/app')).toBe(true);
    expect(isDevEnvFile('/app/.env.local', '/app')).toBe(true);
    expect(isDevEnvFile('/app/sub/.env', '/app')).toBe(false);
    expect(isDevEnvFile('/app/.env.production', '/app')).toBe(false);
  });
});
