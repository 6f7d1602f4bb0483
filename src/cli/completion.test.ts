import { Argument, Command, Option } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMPLETION_SHELLS, completionScript, runCompletion } from './completion.js';
import { hangarProgram } from './program.js';

/** A program of the same shapes as hangar's: nested verbs, path and choice values, hidden things. */
function demoProgram(): Command {
  const program = new Command('demo').version('1.0.0');
  program
    .command('build')
    .description('build the app')
    .argument('[paths...]', 'app directories')
    .option('--out-dir <dir>', 'where the build goes')
    .option('--config <file>', 'config file')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'text']))
    .addOption(new Option('--secret-switch', 'not for users').hideHelp())
    .option('--verbose', 'say more');
  const pkg = program.command('pkg').description('packages');
  pkg
    .command('add')
    .description('add packages')
    .argument('<names...>', 'package names')
    .option('--dev', 'dev only');
  pkg.command('remove').description('remove a package').argument('<name>', 'package name');
  program.command('internal', { hidden: true }).description('not for users');
  program.command('shell').addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']));
  return program;
}

/** Every command under `command`, with the verbs that lead to it. */
function commandsOf(command: Command, path: string[] = []): Array<{ path: string[]; command: Command }> {
  return command.commands.flatMap((sub) => [
    { path: [...path, sub.name()], command: sub },
    ...commandsOf(sub, [...path, sub.name()]),
  ]);
}

const longFlags = (command: Command) =>
  command.options.map((option) => option.long).filter((long) => long !== undefined);

describe.each(COMPLETION_SHELLS)('completionScript(program, %s)', (shell) => {
  it('names every verb and every long flag of a small program, and nothing hidden', () => {
    const script = completionScript(demoProgram(), shell);
    for (const verb of ['build', 'pkg', 'add', 'remove', 'shell']) expect(script).toContain(verb);
    for (const flag of ['out-dir', 'config', 'format', 'verbose', 'dev']) expect(script).toContain(flag);
    expect(script).not.toContain('secret-switch');
    expect(script).not.toContain('internal');
  });

  it('walks the tree: a flag added to the program is completed with no other change', () => {
    const program = demoProgram();
    expect(completionScript(program, shell)).not.toContain('frobnicate');

    const remove = program.commands
      .find((c) => c.name() === 'pkg')!
      .commands.find((c) => c.name() === 'remove')!;
    remove.addOption(new Option('--frobnicate <level>', 'how hard').choices(['gently', 'firmly']));
    const script = completionScript(program, shell);
    expect(script).toContain('frobnicate');
    expect(script).toMatch(/gently.firmly/);
  });

  it('offers the declared choices of options and arguments', () => {
    const script = completionScript(demoProgram(), shell);
    expect(script).toMatch(/json.text/);
    expect(script).toMatch(/bash.zsh.fish/);
  });

  it('lets declared choices win over what a value name suggests', () => {
    const program = new Command('demo');
    program
      .command('logs')
      .addOption(new Option('--min-level <level>', 'threshold').choices(['low', 'high']));
    const script = completionScript(program, shell);
    expect(script).toMatch(/low.high/);
    expect(script).not.toContain('critical');
  });

  it('names every verb of hangarProgram() and every long flag of its logs', () => {
    const program = hangarProgram();
    const script = completionScript(program, shell);
    const commands = commandsOf(program);
    expect(commands.length).toBeGreaterThan(10);
    for (const { path } of commands) expect(script, path.join(' ')).toContain(path.at(-1)!);
    const logs = commands.find(({ path }) => path.join(' ') === 'logs')!.command;
    expect(longFlags(logs)).toContain('--min-level');
    for (const flag of longFlags(logs)) expect(script, flag).toContain(flag.slice(2));
    // commander's implicit help verb, which is not in program.commands.
    expect(script).toMatch(/\bhelp\b/);
  });

  it('starts with a comment saying how to install it', () => {
    const script = completionScript(hangarProgram(), shell);
    const comment = script.slice(0, script.indexOf('\n\n'));
    expect(comment).toContain(`hangar completion ${shell}`);
    for (const line of comment.split('\n')) expect(line).toMatch(/^#/);
  });
});

describe('the bash script', () => {
  const script = completionScript(demoProgram(), 'bash');

  it('knows, per command, its verbs, its flags and the flags taking a value', () => {
    expect(script).toContain(
      [
        "    'demo build')",
        "      verbs=''",
        "      flags='--out-dir --config --format --verbose --help'",
        "      valued='--out-dir --config --format'",
      ].join('\n'),
    );
    expect(script).toContain("    'demo pkg')\n      verbs='add remove help'");
  });

  it('completes directories, files and choices where help names them so', () => {
    expect(script).toContain("'demo build --out-dir') _demo_directories ;;");
    expect(script).toContain("'demo build --config') _demo_files ;;");
    expect(script).toContain("'demo build --format') _demo_words 'json text' ;;");
    expect(script).toContain("'demo build #'*) _demo_files ;;");
    expect(script).toContain("'demo shell #0') _demo_words 'bash zsh fish' ;;");
  });

  it("completes hangar's log levels and --data-dir", () => {
    const hangar = completionScript(hangarProgram(), 'bash');
    expect(hangar).toContain(
      "'hangar logs --min-level') _hangar_words 'debug info warning error critical' ;;",
    );
    expect(hangar).toContain("'hangar dev --data-dir') _hangar_directories ;;");
    // `hangar export kubernetes` (S16): a nested verb, its --out a folder.
    expect(hangar).toContain("    'hangar export')\n      verbs='kubernetes help'");
    expect(hangar).toContain("'hangar export kubernetes --out') _hangar_directories ;;");
    expect(hangar).toContain('complete -F _hangar hangar');
  });
});

describe('the zsh script', () => {
  const script = completionScript(demoProgram(), 'zsh');

  it('is a #compdef function that registers itself when sourced', () => {
    expect(script.split('\n')[0]).toBe('#compdef demo');
    expect(script).toContain('compdef _demo demo');
  });

  it('gives each command a function with _arguments specs for its flags and arguments', () => {
    const build = script.slice(script.indexOf('_demo_build() {'));
    expect(build).toContain("'--out-dir=[where the build goes]:dir:_files -/'");
    expect(build).toContain("'--format=[output format]:format:(json text)'");
    expect(build).toContain("'*:paths:_files'");
    expect(script).toContain("'add:add packages'");
  });
});

describe('the fish script', () => {
  const script = completionScript(demoProgram(), 'fish');

  it('ties each flag to the command it belongs to', () => {
    expect(script).toContain("complete -c demo -n __demo_at_build -l format -x -a 'json text'");
    expect(script).toContain('complete -c demo -n __demo_at_build -l config -r -F');
    expect(script).toContain('complete -c demo -n __demo_at_pkg_add -l dev');
    expect(script).toContain('complete -c demo -n __demo_at_top -a build');
  });

  it('tells `pkg add` from a verb of the same name elsewhere by the verbs around it', () => {
    const condition = script.slice(script.indexOf('function __demo_at_pkg_add'));
    expect(condition).toMatch(
      /^function __demo_at_pkg_add\n {4}__fish_seen_subcommand_from pkg\n {4}and __fish_seen_subcommand_from add\n {4}and not __fish_seen_subcommand_from build shell help remove\nend/,
    );
  });
});

describe('unknown shells', () => {
  it('are a usage error naming the shells there are', async () => {
    await expect(runCompletion('tcsh', hangarProgram())).rejects.toMatchObject({
      name: 'HangarError',
      code: 'HANGAR_E_USAGE',
      message: expect.stringContaining('bash, zsh, fish'),
    });
    expect(() => completionScript(demoProgram(), 'tcsh' as never)).toThrow(/bash, zsh, fish/);
  });
});

describe('runCompletion', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("writes hangar's script for the shell to stdout", async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    await runCompletion('fish', hangarProgram());
    expect(written.join('')).toBe(completionScript(hangarProgram(), 'fish'));
  });
});

describe('the completion verb', () => {
  it('accepts exactly the shells there are scripts for', () => {
    const completionVerb = hangarProgram().commands.find((c) => c.name() === 'completion');
    expect(completionVerb?.registeredArguments[0]?.argChoices).toEqual([...COMPLETION_SHELLS]);
  });
});
