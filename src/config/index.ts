/**
 * app.yaml (SPEC S3), the platform config (S15) and the deploy file limits: load, validate,
 * normalise. Everything else reads the shapes in ./types.ts, never raw YAML.
 */
export { entrypointCommand, loadAppConfig } from './app-config.js';
export { DEFAULT_SKIP_FILES, ERROR_PAGE_MAX_BYTES } from './app-fields.js';
export { MODULE_EXTENSIONS } from './app-files.js';
export { MAX_HANDLERS, RUNTIMES } from './app-schema.js';
export {
  DURATION_FORMAT,
  type DurationUnit,
  EXPIRATION_FORMAT,
  formatSize,
  parseDuration,
  parseExpiration,
  parseSize,
  SIZE_FORMAT,
} from './durations.js';
export {
  type AppFile,
  type AppFilesWalk,
  checkFileLimits,
  DEFAULT_FILE_LIMITS,
  type FileLimits,
  type FileLimitsReport,
  NEVER_DEPLOYED,
  walkAppFiles,
} from './file-limits.js';
export { fullMatch, staticDirPattern } from './handler-fields.js';
export { ConfigError, type ConfigIssue, displayPath, formatIssue } from './issues.js';
export { defaultPlatformConfig, loadPlatformConfig, PLATFORM_CONFIG_FILE } from './platform-config.js';
export { DAILY_QUOTA_NAMES } from './platform-schema.js';
export { AUTOMATIC_DEFAULTS, MAX_PENDING_LATENCY_CAP_MS } from './scaling-schema.js';
export type * from './types.js';
export { parseYaml, type YamlSource } from './yaml-source.js';
