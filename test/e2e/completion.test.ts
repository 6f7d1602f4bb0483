/**
 * The completion scripts in the shells themselves: each script is generated in-process, written
 * to a file, and loaded by a real bash, zsh or fish that is asked to complete a command line.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CompletionShell, completionScript } from '../../src/cli/completion.js';
import { hangarProgram } from '../../src/cli/program.js';

const run = promisify(execFile);

const onPath = (shell: string) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, shell)));

const hasZsh = onPath('zsh');
const hasFish = onPath('fish');
const LEVELS = ['critical', 'debug', 'error', 'info', 'warning'];

let tmp: string;
/** Where the shells complete: two directories and a file, to tell directory completion apart. */
let cwd: string;
const scripts = {} as Record<CompletionShell, string>;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hangar-completion-'));
  cwd = join(tmp, 'cwd');
  mkdirSync(join(cwd, 'subdir'), { recursive: true });
  mkdirSync(join(cwd, 'other-dir'));
  writeFileSync(join(cwd, 'app.yaml'), 'runtime: nodejs22\n');
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    scripts[shell] = join(tmp, `hangar.${shell}`);
    writeFileSync(scripts[shell], completionScript(hangarProgram(), shell));
  }
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs a shell to its end; a hung shell is killed, so a broken script fails rather than stalls. */
async function runShell(file: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(file, args, { cwd, timeout: 20_000, env: { ...process.env, ...env } });
}

const sorted = (lines: string) => [...new Set(lines.split('\n').filter((line) => line !== ''))].sort();

describe('bash', () => {
  // Sets up what bash gives a completion function (the words as readline splits them, the
  // cursor at the end of the last), calls it, and prints what it offers.
  const driver = `
source "$1" || exit 3
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=\${#COMP_LINE}
_hangar
printf '%s\\n' "\${COMPREPLY[@]}"
`;

  /** What bash offers for the line made of `words`, the last one being completed. */
  async function complete(...words: string[]): Promise<string[]> {
    const { stdout, stderr } = await runShell('bash', [
      '--norc',
      '--noprofile',
      '-c',
      driver,
      'bash',
      scripts.bash,
      ...words,
    ]);
    expect(stderr).toBe('');
    return sorted(stdout);
  }

  it('parses, and registers _hangar for hangar', async () => {
    await runShell('bash', ['-n', scripts.bash]);
    const { stdout } = await runShell('bash', [
      '--norc',
      '-c',
      'source "$1" && complete -p hangar',
      'bash',
      scripts.bash,
    ]);
    expect(stdout.trim()).toBe('complete -F _hangar hangar');
  });

  it('completes the verbs', async () => {
    const verbs = await complete('hangar', '');
    expect(verbs).toEqual(expect.arrayContaining(['dev', 'serve', 'deploy', 'versions', 'logs', 'help']));
    expect(verbs.filter((verb) => verb.startsWith('-'))).toEqual([]);
    expect(await complete('hangar', 'vers')).toEqual(['versions']);
  });

  it('completes nested verbs', async () => {
    const verbs = await complete('hangar', 'versions', '');
    expect(verbs).toEqual(expect.arrayContaining(['list', 'promote', 'delete']));
    expect(verbs).not.toContain('dev');
    expect(await complete('hangar', 'instances', '')).toEqual(expect.arrayContaining(['list', 'stop']));
    expect(await complete('hangar', 'sockets', '')).toEqual(expect.arrayContaining(['list']));
    expect(await complete('hangar', 'export', '')).toEqual(expect.arrayContaining(['kubernetes']));
  });

  it("completes the flags of the command being typed, and a flag's choices", async () => {
    expect(await complete('hangar', 'logs', '--min')).toEqual(['--min-level']);
    expect(await complete('hangar', 'logs', '--min-level', '')).toEqual(LEVELS);
    expect(await complete('hangar', 'versions', 'promote', '--s')).toEqual(['--server', '--service']);
    // A flag's value is not taken for a verb or a positional.
    expect(await complete('hangar', 'logs', '--service', 'dev', '--ta')).toEqual(['--tail']);
  });

  it('completes a value after --flag=, which bash splits into --flag, = and the value', async () => {
    expect(await complete('hangar', 'logs', '--min-level', '=')).toEqual(LEVELS);
    expect(await complete('hangar', 'logs', '--min-level', '=', 'w')).toEqual(['warning']);
  });

  it('completes directories for --data-dir, and files for paths', async () => {
    expect(await complete('hangar', 'dev', '--data-dir', '')).toEqual(['other-dir', 'subdir']);
    expect(await complete('hangar', 'serve', '--data-dir', 'su')).toEqual(['subdir']);
    expect(await complete('hangar', 'dev', '')).toEqual(['app.yaml', 'other-dir', 'subdir']);
    expect(await complete('hangar', 'dev', '--port', '8080', 'a')).toEqual(['app.yaml']);
  });

  it("completes help's verb, and the flags where nothing positional is left", async () => {
    expect(await complete('hangar', 'help', '')).toEqual(expect.arrayContaining(['dev', 'logs', 'versions']));
    expect(await complete('hangar', 'logs', '')).toEqual(expect.arrayContaining(['--min-level', '--tail']));
  });
});

describe('zsh', () => {
  // An interactive zsh in a pseudo-terminal (zsh/zpty), as zsh's own completion tests do: it is
  // sent the line and a TAB; compadd, wrapped, appends what it is asked to offer to $3, and the
  // shell exits once the completion is over, which ends the read loop.
  const driver = `
zmodload zsh/zpty || exit 3
setup=$1 out=$2 line=$3
zpty hz zsh -f -i
zpty -w hz "PS1='' PROMPT=''"
zpty -w hz "$setup"
zpty -w hz "bindkey '^I' complete-word"
zpty -w hz 'compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return; fi
  local -a hits
  builtin compadd -O hits "$@"
  print -rl -- $hits >> "$COMPLETION_OUT"
  builtin compadd "$@"
}'
zpty -w hz "COMPLETION_OUT=\${(q)out}; comppostfuncs=(exit)"
# The set-up has run once its last line's output is back: only then is the TAB typed.
zpty -w hz 'print ready-$((6 * 7))'
zpty -r hz reply '*ready-42*' || exit 4
zpty -wn hz "$line"$'\\t'
while zpty -r hz chunk; do :; done
`;

  let driverFile: string;
  beforeAll(() => {
    driverFile = join(tmp, 'complete.zsh');
    writeFileSync(driverFile, driver);
  });

  /** What zsh offers for `line` (completed at its end), with the script loaded by `setup`. */
  async function complete(
    line: string,
    setup = `autoload -U compinit && compinit -u -D && source ${scripts.zsh}`,
  ) {
    const out = join(tmp, `zsh-${Math.random().toString(36).slice(2)}.out`);
    await runShell('zsh', ['-f', driverFile, setup, out, line]);
    // No file: nothing was offered.
    return sorted(existsSync(out) ? readFileSync(out, 'utf8') : '');
  }

  it.skipIf(!hasZsh)('parses, and registers _hangar for hangar when sourced after compinit', async () => {
    await runShell('zsh', ['-n', scripts.zsh]);
    const { stdout, stderr } = await runShell('zsh', [
      '-f',
      '-c',
      'autoload -U compinit && compinit -u -D && source "$1" && print -r -- "$_comps[hangar] $+functions[_hangar]"',
      'zsh',
      scripts.zsh,
    ]);
    expect(stderr).toBe('');
    expect(stdout.trim()).toBe('_hangar 1');
  });

  it.skipIf(!hasZsh)('completes verbs, nested verbs, flags, choices and directories', async () => {
    expect(await complete('hangar ')).toEqual(
      expect.arrayContaining(['dev', 'serve', 'deploy', 'versions', 'logs']),
    );
    expect(await complete('hangar vers')).toEqual(['versions']);
    const verbs = await complete('hangar versions ');
    expect(verbs).toEqual(expect.arrayContaining(['list', 'promote', 'delete']));
    expect(verbs).not.toContain('dev');
    expect(await complete('hangar logs --min')).toEqual(['--min-level']);
    expect(await complete('hangar logs --min-level ')).toEqual(LEVELS);
    expect(await complete('hangar logs --min-level=')).toEqual(LEVELS);
    expect(await complete('hangar dev --data-dir ')).toEqual(['other-dir', 'subdir']);
  });

  it.skipIf(!hasZsh)('works installed as _hangar in a directory on $fpath', async () => {
    const functions = join(tmp, 'zfunc');
    mkdirSync(functions, { recursive: true });
    copyFileSync(scripts.zsh, join(functions, '_hangar'));
    const setup = `fpath=(${functions} $fpath) && autoload -U compinit && compinit -u -D`;
    expect(await complete('hangar versions ', setup)).toEqual(
      expect.arrayContaining(['list', 'promote', 'delete']),
    );
    expect(await complete('hangar logs --min-level ', setup)).toEqual(LEVELS);
  });
});

describe('fish', () => {
  /** What fish offers for `line`: `complete -C` prints one candidate a line, a tab before its description. */
  async function complete(line: string): Promise<string[]> {
    const { stdout, stderr } = await runShell(
      'fish',
      ['--no-config', '-c', 'source $argv[1]; and complete -C $argv[2]', scripts.fish, line],
      // fish keeps universal variables and history there; keep them out of the user's home.
      { XDG_CONFIG_HOME: join(tmp, 'config'), XDG_DATA_HOME: join(tmp, 'data') },
    );
    expect(stderr).toBe('');
    return sorted(stdout.replace(/\t.*$/gm, ''));
  }

  it.skipIf(!hasFish)('parses', async () => {
    await runShell('fish', ['--no-config', '-n', scripts.fish]);
  });

  it.skipIf(!hasFish)('completes verbs, nested verbs, flags, choices and directories', async () => {
    expect(await complete('hangar ')).toEqual(
      expect.arrayContaining(['dev', 'serve', 'deploy', 'versions', 'logs']),
    );
    const verbs = await complete('hangar versions ');
    expect(verbs).toEqual(expect.arrayContaining(['list', 'promote', 'delete']));
    expect(verbs).not.toContain('dev');
    expect(await complete('hangar logs --min')).toEqual(['--min-level']);
    expect(await complete('hangar logs --min-level ')).toEqual(LEVELS);
    expect(await complete('hangar dev --data-dir ')).toEqual(['other-dir/', 'subdir/']);
    expect(await complete('hangar dev --data-dir=')).toEqual(['--data-dir=other-dir/', '--data-dir=subdir/']);
  });

  it.skipIf(!hasFish)('tells the list verbs of versions and instances apart', async () => {
    const versionsList = await complete('hangar versions list --');
    expect(versionsList).toContain('--service');
    expect(versionsList).not.toContain('--decisions');
    expect(await complete('hangar instances list --')).toContain('--decisions');
  });
});
