/**
 * `hangar init [DIR] [--template NAME]`: writes a runnable app from `templates/NAME` (at the
 * package's root, shipped beside `dist/`) into DIR and prints the commands that come next.
 *
 * It never overwrites anything: every path the template would write is checked before the
 * first file is written, so a refusal leaves DIR as it was, and each file is then created
 * exclusively (`wx`), so a file that appears in between is refused rather than replaced.
 */
import { existsSync, type Stats } from 'node:fs';
import { lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appNameFor } from '../config/app-names.js';
import { HangarError } from '../shared/errors.js';

/**
 * The templates, in the order help lists them. A constant rather than a listing of the folder,
 * so that `--template`'s choices are known without touching the disk; a test checks that it
 * matches the folder.
 */
const TEMPLATE_NAMES = ['fetch', 'hono', 'express', 'cgi', 'entrypoint'] as const;

export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export const DEFAULT_TEMPLATE: TemplateName = 'fetch';

/** The names `--template` accepts. */
export function templateNames(): readonly TemplateName[] {
  return TEMPLATE_NAMES;
}

/**
 * `templates/` at the package root: the same two levels up from src/cli/init.ts (vitest, tsx)
 * and from dist/cli/init.js (the installed package).
 */
export const templatesDir = fileURLToPath(new URL('../../templates/', import.meta.url));

/** Text in template files that becomes the app's name. */
const NAME_PLACEHOLDER = '{{name}}';

/**
 * Template files stored under another name. npm leaves every `.gitignore` out of a published
 * package, so the template's would never reach users under its real name.
 */
const RENAMED: ReadonlyMap<string, string> = new Map([['_gitignore', '.gitignore']]);

export interface InitResult {
  /** The app's directory, absolute. */
  dir: string;
  template: TemplateName;
  /** The app's name (package.json's `name`). */
  name: string;
  /** The files written, relative to `dir`, with `/`, sorted. */
  files: string[];
  /** Whether the template has packages to install before its test or `hangar dev` run. */
  needsInstall: boolean;
}

/**
 * Writes template `template` into `dir` (created if missing; an existing one may hold other
 * files, but none the template has). Throws HangarError USAGE for an unknown template, INIT_TARGET_TAKEN for a
 * target it would have to overwrite, before writing anything.
 *
 * @example await initApp('my-app', 'hono') // { dir: '/home/me/my-app', files: ['.gitignore', ...], ... }
 */
export async function initApp(dir: string, template: string = DEFAULT_TEMPLATE): Promise<InitResult> {
  if (!isTemplateName(template)) {
    throw new HangarError(
      'USAGE',
      `there is no template '${template}': pick one of ${TEMPLATE_NAMES.join(', ')} (--template NAME)`,
    );
  }
  const target = resolve(dir);
  const source = join(templatesDir, template);
  const entries = await templateFiles(source);
  const name = appNameFor(target);

  // stat, not lstat: a link to a directory is a fine place for an app.
  const targetStat = await statOrUndefined(target, stat);
  if (targetStat !== undefined && !targetStat.isDirectory()) {
    throw new HangarError(
      'INIT_TARGET_TAKEN',
      `${shown(target)} is a file, not a directory: give hangar init a directory`,
    );
  }
  if (targetStat !== undefined) await refuseConflicts(target, entries, template);
  try {
    await mkdir(target, { recursive: true });
  } catch (err) {
    throw new HangarError('INIT_TARGET_TAKEN', `cannot create ${shown(target)}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  const files: string[] = [];
  for (const entry of entries) {
    const content = await readFile(join(source, entry.from));
    const out = join(target, entry.to);
    await mkdir(dirname(out), { recursive: true });
    try {
      await writeFile(out, withName(content, name), {
        flag: 'wx',
        // A shebang means a script Hangar runs as a program (CGI). The mode is set here because
        // npm does not promise to keep a packed file's executable bit when it installs it.
        mode: content.subarray(0, 2).toString() === '#!' ? 0o755 : 0o644,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      throw conflictError(target, [entry.to], template, files);
    }
    files.push(entry.to);
  }

  const pkg = JSON.parse(await readFile(join(source, 'package.json'), 'utf8')) as {
    dependencies?: object;
    devDependencies?: object;
  };
  const needsInstall =
    Object.keys(pkg.dependencies ?? {}).length + Object.keys(pkg.devDependencies ?? {}).length > 0;
  return { dir: target, template, name, files, needsInstall };
}

/**
 * `hangar init`: writes the app, then prints the files and the command to run next.
 *
 * @example await runInit('my-app', { template: 'express' })
 */
export async function runInit(dir: string | undefined, opts: { template?: string }): Promise<void> {
  const result = await initApp(dir ?? '.', opts.template ?? DEFAULT_TEMPLATE);
  process.stdout.write(describeInit(result));
}

/** What `hangar init` prints: the files written and the next commands. */
export function describeInit(result: InitResult): string {
  const where = shown(result.dir);
  const steps = [
    ...(where === '.' ? [] : [`cd ${shellQuote(where)}`]),
    ...(result.needsInstall ? ['npm install'] : []),
    'npx hangar dev',
  ];
  return [
    `Wrote a ${result.template} app to ${where === '.' ? 'this directory' : where}:`,
    ...result.files.map((file) => `  ${file}`),
    '',
    'Next:',
    `  ${steps.join(' && ')}`,
    '',
    "Then open http://127.0.0.1:8080/. `npm test` runs the app's test; README.md says what to do next.",
    '',
  ].join('\n');
}

function isTemplateName(name: string): name is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(name);
}

interface TemplateEntry {
  /** Path in the template folder, with the platform's separator. */
  from: string;
  /** Path in the app, with `/`. */
  to: string;
}

/** Every file of a template folder, sorted by the path it gets in the app. */
async function templateFiles(source: string): Promise<TemplateEntry[]> {
  const found: TemplateEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const dirents = await readdir(join(source, rel), { withFileTypes: true }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && rel === '') {
        // Not the user's doing: an install without the folder (package.json `files`).
        throw new Error(`Hangar's templates are missing: no folder ${source}; reinstall Hangar`);
      }
      throw err;
    });
    for (const dirent of dirents) {
      const from = rel === '' ? dirent.name : join(rel, dirent.name);
      if (dirent.isDirectory()) await walk(from);
      else
        found.push({
          from,
          to: [...from.split(sep).slice(0, -1), RENAMED.get(dirent.name) ?? dirent.name].join('/'),
        });
    }
  };
  await walk('');
  return found.sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
}

/** Throws when anything already sits where the template puts a file or needs a folder. */
async function refuseConflicts(
  target: string,
  entries: TemplateEntry[],
  template: TemplateName,
): Promise<void> {
  const taken = new Set<string>();
  for (const entry of entries) {
    if ((await statOrUndefined(join(target, entry.to))) !== undefined) taken.add(entry.to);
    // A file where the template needs a folder (a file named `static`) is in the way too.
    const parts = entry.to.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      const stat = await statOrUndefined(join(target, folder));
      if (stat !== undefined && !stat.isDirectory()) taken.add(folder);
    }
  }
  if (taken.size > 0) throw conflictError(target, [...taken].sort(), template, []);
}

function conflictError(
  target: string,
  taken: string[],
  template: TemplateName,
  written: string[],
): HangarError {
  const where = shown(target);
  // app.yaml first: it is what says an app is there already.
  const listed = [...taken].sort((a, b) => Number(b === 'app.yaml') - Number(a === 'app.yaml'));
  const flag = template === DEFAULT_TEMPLATE ? '' : ` --template ${template}`;
  // Files were written only when someone else created one of the template's files meanwhile.
  const wrote = written.length === 0 ? 'it wrote nothing' : `it wrote only ${written.join(', ')}`;
  return new HangarError(
    'INIT_TARGET_TAKEN',
    `${where === '.' ? 'this directory' : where} already holds ${listed.join(', ')}, ` +
      `which hangar init would overwrite; ${wrote}. Pick a new or empty directory instead, ` +
      `e.g. hangar init ${shellQuote(suggestDir(target, template))}${flag}`,
  );
}

/** A directory name to suggest instead: next to the refused one, and not taken yet. */
function suggestDir(target: string, template: TemplateName): string {
  const here = shown(target);
  const stem = here === '.' ? `${template}-app` : here;
  for (let n = here === '.' ? 1 : 2; n < 100; n++) {
    const candidate = n === 1 ? stem : `${stem}-${n}`;
    if (!existsSync(resolve(candidate))) return candidate;
  }
  return `${stem}-new`;
}

/** `dir` as the user would type it from here: relative inside the working directory, else absolute. */
function shown(dir: string): string {
  const rel = relative(process.cwd(), dir);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? dir : rel;
}

/** Quoted for a POSIX shell when it holds anything but the usual path characters. */
function shellQuote(text: string): string {
  return /^[\w./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

function withName(content: Buffer, name: string): Buffer {
  const text = content.toString('utf8');
  return text.includes(NAME_PLACEHOLDER) ? Buffer.from(text.replaceAll(NAME_PLACEHOLDER, name)) : content;
}

async function statOrUndefined(
  path: string,
  how: (path: string) => Promise<Stats> = lstat,
): Promise<Stats | undefined> {
  try {
    // lstat by default: a symlink is in the way even when it points nowhere.
    return await how(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
