import { isAbsolute, relative, sep } from 'node:path';
import { HangarError } from '../shared/errors.js';

/**
 * One problem in a config file or app tree: where it is, what is wrong, how to fix it.
 * `line`/`column` are 1-based; both are 0 when the problem belongs to a file as a whole
 * (the deploy file limits).
 */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Field path as written in the YAML, e.g. `handlers[2].url`; empty for the file itself. */
  field: string;
  /** What is wrong, without a trailing period. */
  message: string;
  /** How to fix it. */
  fix: string;
}

/**
 * Shows `file` relative to `cwd` when it lies inside it, else as given.
 * @example displayPath('/srv/app/app.yaml', '/srv') // 'app/app.yaml'
 */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(cwd, file);
  if (rel === '') return '.';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return file;
  return rel;
}

/**
 * One line per issue, compiler style.
 * @example
 * formatIssue(issue)
 * // "app.yaml:12:5 handlers[2].url: must not start with '^'. Fix: remove the leading '^'; urls are implicitly anchored."
 */
export function formatIssue(issue: ConfigIssue, cwd?: string): string {
  const file = displayPath(issue.file, cwd);
  const where = issue.line > 0 ? `${file}:${issue.line}:${issue.column}` : file;
  const subject = issue.field ? `${where} ${issue.field}:` : `${where}:`;
  return `${subject} ${sentence(issue.message)} Fix: ${sentence(issue.fix)}`;
}

/**
 * Names a YAML path the way a reader would write it.
 * @example fieldPath(['handlers', 2, 'url']) // 'handlers[2].url'
 */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const name = String(segment);
      if (/^[\w-]+$/.test(name)) out += out === '' ? name : `.${name}`;
      else out += `[${JSON.stringify(name)}]`;
    }
  }
  return out;
}

/** Orders issues as a reader goes through the files: by file, then line, then column. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}

/**
 * app.yaml or the platform config is invalid. Carries every issue found, not just the
 * first, so one run of `hangar validate` shows everything to fix.
 */
export class ConfigError extends HangarError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('CONFIG_INVALID', issues.map((issue) => formatIssue(issue)).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}
