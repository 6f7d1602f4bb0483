/**
 * `hangar validate [PATH] [--config FILE]` (SPEC S2): checks app.yaml, the platform config
 * when given, and the deploy file limits. Prints every problem, one per line, to stderr
 * and returns 1; prints one summary line to stdout and returns 0 when all is well.
 */
import {
  type AppConfig,
  type ConfigIssue,
  checkFileLimits,
  displayPath,
  formatIssue,
  formatSize,
  loadAppConfig,
  loadPlatformConfig,
} from '../config/index.js';
import { isHangarError } from '../shared/errors.js';

/** Runs the check; resolves to the process exit code. Never throws, never prints a stack. */
export async function runValidate(path: string, opts: { config?: string }): Promise<number> {
  const problems: string[] = [];
  const collect = (err: unknown) => {
    problems.push(...describeFailure(err, 'validating'));
  };

  // Both files are checked even when one fails; app.yaml's problems are listed first.
  const [appResult, platformResult] = await Promise.allSettled([
    loadAppConfig(path),
    opts.config === undefined ? Promise.resolve(undefined) : loadPlatformConfig(opts.config),
  ]);
  const app = appResult.status === 'fulfilled' ? appResult.value : undefined;
  if (appResult.status === 'rejected') collect(appResult.reason);
  if (platformResult.status === 'rejected') collect(platformResult.reason);

  // skip_files comes from app.yaml, so the file limits can only be counted once it loaded.
  let summary = '';
  if (app !== undefined) {
    try {
      const limits = await checkFileLimits(app.dir, app.skipFiles);
      problems.push(...limits.issues.map((issue) => formatIssue(issue)));
      summary = describeApp(app, limits.files, limits.bytes);
    } catch (err) {
      collect(err);
    }
  }

  if (problems.length > 0) {
    for (const line of problems) process.stderr.write(`${line}\n`);
    process.stderr.write(
      `hangar validate: ${problems.length} problem${problems.length === 1 ? '' : 's'} found\n`,
    );
    return 1;
  }
  const config = opts.config === undefined ? '' : `; ${displayPath(opts.config)}: OK`;
  process.stdout.write(`${summary}${config}\n`);
  return 0;
}

function describeApp(app: AppConfig, files: number, bytes: number): string {
  const handlers = app.handlers.length;
  return (
    `${displayPath(app.file)}: OK — service ${app.service}, ` +
    `version ${app.version ?? '(unset)'}, ${handlers} handler${handlers === 1 ? '' : 's'}, ` +
    `${files} file${files === 1 ? '' : 's'} (${formatSize(bytes)}) within the deploy limits`
  );
}

/**
 * The lines to print for a failure: one per issue, else the message, never a stack. Shared
 * with `hangar deploy`, which prints app.yaml's problems exactly as validate does.
 */
export function describeFailure(err: unknown, doing: string): string[] {
  const issues = (err as { issues?: readonly ConfigIssue[] } | null)?.issues;
  if (isHangarError(err) && Array.isArray(issues)) return issues.map((issue) => formatIssue(issue));
  if (isHangarError(err)) return [`hangar: ${err.message}`];
  const message = err instanceof Error ? err.message : String(err);
  return [`hangar: unexpected error while ${doing}: ${message}`];
}
