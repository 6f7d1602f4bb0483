/**
 * `.env` and `.env.local` beside app.yaml, for `hangar dev` only (never read by `deploy` or
 * `serve`: a deployed version's variables are app.yaml's `env_variables:` alone, docs/cli.md).
 * They fill in variables that `env_variables:` does not set, as a developer's local secrets
 * and settings; `.env.local` wins over `.env`. A name set in app.yaml keeps app.yaml's value,
 * which is what a deploy will run with, and the developer is told.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseEnv } from 'node:util';
import type { AppConfig } from './types.js';

/** Read in this order; a later file's value wins. */
export const DEV_ENV_FILES = ['.env', '.env.local'] as const;

/** The names `env_variables:` accepts (app-fields.ts), so a variable means the same from either place. */
const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface DevEnvResult {
  /** The config with the files' variables added to `envVariables`. */
  config: AppConfig;
  /** The files that were read, as paths. */
  files: string[];
  /** Things the developer should know: names app.yaml overrides, names that are not variable names. */
  warnings: string[];
}

/** Whether `file` is one of the dev env files of the app in `appDir` (the watcher reloads on them). */
export function isDevEnvFile(file: string, appDir: string): boolean {
  return dirname(file) === appDir && (DEV_ENV_FILES as readonly string[]).includes(basename(file));
}

/**
 * `config` with the variables of its folder's `.env` and `.env.local` that app.yaml does not
 * set. Missing files are no error; the syntax is Node's (`util.parseEnv`: `NAME=value`,
 * `# comments`, quotes, `export` prefixes).
 *
 * @example
 * const { config: withEnv, warnings } = withDevEnvFiles(config);
 */
export function withDevEnvFiles(config: AppConfig): DevEnvResult {
  const fromFiles: Record<string, string> = {};
  const origin: Record<string, string> = {};
  const files: string[] = [];
  const warnings: string[] = [];
  for (const name of DEV_ENV_FILES) {
    const path = join(config.dir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    files.push(path);
    for (const [key, value] of Object.entries(parseEnv(text))) {
      if (value === undefined) continue;
      if (!variableName.test(key)) {
        warnings.push(
          `${path}: '${key}' is not a variable name (letters, digits and _, not starting with a digit); it is ignored`,
        );
        continue;
      }
      fromFiles[key] = value;
      origin[key] = path;
    }
  }
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(fromFiles)) {
    if (Object.hasOwn(config.envVariables, key)) {
      warnings.push(
        `${key} is set in both ${origin[key]} and app.yaml's env_variables; app.yaml's value is used (it is what a deploy runs with): remove one of them`,
      );
      continue;
    }
    kept[key] = value;
  }
  if (files.length === 0) return { config, files, warnings };
  return { config: { ...config, envVariables: { ...kept, ...config.envVariables } }, files, warnings };
}
