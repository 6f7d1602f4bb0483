import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HangarError } from '../shared/errors.js';
import { appYamlSchema } from './app-schema.js';
import { ConfigError, sortIssues } from './issues.js';
import type { AppConfig } from './types.js';
import { readYamlSource } from './yaml-source.js';
import { toConfigIssues } from './zod-issues.js';

/**
 * Loads, validates and normalises an app.yaml (SPEC S3). `pathToDirOrYaml` is an app
 * directory (then `<dir>/app.yaml`) or the YAML file itself (any name, for services).
 *
 * Throws `HangarError` `CONFIG_NOT_FOUND` when there is no such file, and `ConfigError`
 * (`CONFIG_INVALID`) carrying every problem found, each with line, column, field and fix.
 *
 * @example
 * const app = await loadAppConfig('examples/hello');
 * app.handlers[0]?.kind // 'module'
 */
export async function loadAppConfig(pathToDirOrYaml: string): Promise<AppConfig> {
  const file = await findAppYaml(pathToDirOrYaml);
  const source = await readYamlSource(file);
  if (source.errors.length > 0) throw new ConfigError(sortIssues(source.errors));

  const result = await appYamlSchema(file, dirname(file)).safeParseAsync(source.value);
  if (!result.success) throw new ConfigError(sortIssues(toConfigIssues(result.error.issues, source)));
  return result.data;
}

/** The absolute path of the app.yaml that `path` names. */
async function findAppYaml(path: string): Promise<string> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => undefined);
  if (info === undefined) {
    throw new HangarError(
      'CONFIG_NOT_FOUND',
      `${absolute} does not exist; pass an app directory containing app.yaml (or the path of the app.yaml itself)`,
    );
  }
  if (!info.isDirectory()) return absolute;
  const file = join(absolute, 'app.yaml');
  if (!(await stat(file).catch(() => undefined))?.isFile()) {
    throw new HangarError(
      'CONFIG_NOT_FOUND',
      `no app.yaml in ${absolute}; pass an app directory containing app.yaml (or the path of the app.yaml itself)`,
    );
  }
  return file;
}

/** The command an instance runs for `script: auto` (S4.3): `entrypoint:`, else `npm start` as App Engine's Node runtime does. */
export function entrypointCommand(config: { entrypoint?: string | undefined }): string {
  return config.entrypoint ?? 'npm start';
}
