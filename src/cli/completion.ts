/**
 * `hangar completion bash|zsh|fish`: prints a shell completion script for `hangar`.
 *
 * The script is generated from the commander tree that program.ts builds, so a verb, flag or
 * argument added there is completed with no change here. It is static: the shell never runs
 * `hangar` while completing, because starting Node on every TAB is slower than typing. The price
 * is that the script is a snapshot, to regenerate after upgrading Hangar.
 */
import type { Argument, Command, Help, Option } from 'commander';
import { HangarError } from '../shared/errors.js';
import { LOG_LEVELS } from '../shared/log-levels.js';

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;

export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What the shell can offer for a value typed on the command line. */
type ValueKind =
  | { type: 'text' }
  | { type: 'file' }
  | { type: 'directory' }
  | { type: 'choice'; choices: readonly string[] };

interface FlagSpec {
  long: string | undefined;
  short: string | undefined;
  description: string;
  /** Commander takes an optional value only when the next word does not start with `-`. */
  value: 'none' | 'required' | 'optional';
  /** The value's name in help (`dir` in `--data-dir <dir>`). */
  valueName: string;
  kind: ValueKind;
}

interface ArgSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  kind: ValueKind;
}

interface CommandSpec {
  /** The verbs that lead here: [] for the program itself, ['versions', 'list'] for `versions list`. */
  path: readonly string[];
  description: string;
  flags: FlagSpec[];
  args: ArgSpec[];
  verbs: CommandSpec[];
}

const TEXT: ValueKind = { type: 'text' };

// Help names every value (`<dir>`, `--config <file>`, `[paths...]`); those names are what says a
// value is a path, so a new `--foo-dir <dir>` gets directory completion without being listed here.
const DIRECTORY_NAME = /(^|[-_])(dir|directory|folder)s?$/i;
const FILE_NAME = /(^|[-_])(file|path)s?$/i;

/**
 * Choices for values by name, for options that predate declaring them with `Option.choices()`:
 * a `<level>` is a log level everywhere in Hangar's CLI. Declared choices win over this table.
 */
const CHOICES_BY_NAME: Readonly<Record<string, readonly string[]>> = { level: LOG_LEVELS };

function valueKind(choices: readonly string[] | undefined, name: string): ValueKind {
  if (choices !== undefined && choices.length > 0) return { type: 'choice', choices };
  if (DIRECTORY_NAME.test(name)) return { type: 'directory' };
  if (FILE_NAME.test(name)) return { type: 'file' };
  const known = Object.hasOwn(CHOICES_BY_NAME, name) ? CHOICES_BY_NAME[name] : undefined;
  return known === undefined ? TEXT : { type: 'choice', choices: known };
}

const firstLine = (text: string) => text.split('\n')[0]!.trim();

function flagSpec(option: Option): FlagSpec {
  const value = option.required ? 'required' : option.optional ? 'optional' : 'none';
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1]?.replace(/\.\.\.$/, '') ?? 'value';
  return {
    long: option.long,
    short: option.short,
    description: firstLine(option.description),
    value,
    valueName,
    kind: value === 'none' ? TEXT : valueKind(option.argChoices, valueName),
  };
}

function argSpec(argument: Argument): ArgSpec {
  return {
    name: argument.name(),
    required: argument.required,
    variadic: argument.variadic,
    kind: valueKind(argument.argChoices, argument.name()),
  };
}

/** The tree of what can be completed, read through commander's Help so hidden verbs and flags stay hidden. */
function commandSpec(command: Command, path: readonly string[], help: Help): CommandSpec {
  const subcommands = help.visibleCommands(command);
  const verbNames = subcommands.map((sub) => sub.name());
  return {
    path,
    description: firstLine(command.description()),
    flags: help.visibleOptions(command).map(flagSpec),
    args: command.registeredArguments.map(argSpec),
    verbs: subcommands.map((sub) => {
      const spec = commandSpec(sub, [...path, sub.name()], help);
      // Commander adds `help [command]` itself (it is not in `commands`); what it takes is a sibling verb.
      if (!command.commands.includes(sub)) {
        const siblings = verbNames.filter((name) => name !== sub.name());
        spec.args = spec.args.map((arg) => ({ ...arg, kind: { type: 'choice', choices: siblings } }));
      }
      return spec;
    }),
  };
}

/** A name made fit to be part of a shell function's name. */
const identifier = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

function allCommands(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.verbs.flatMap(allCommands)];
}

/** Unique shell function names, one per command, readable as the verbs they stand for. */
function functionNames(root: CommandSpec, prefix: string, rootName: string): Map<CommandSpec, string> {
  const names = new Map<CommandSpec, string>();
  const taken = new Set<string>();
  for (const spec of allCommands(root)) {
    const base = spec === root ? rootName : `${prefix}_${identifier(spec.path.join('_'))}`;
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}_${n}`;
    taken.add(name);
    names.set(spec, name);
  }
  return names;
}

/** One word for bash or zsh, quoted only when it has to be. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_.,:@%+=/-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Always quoted, so that case patterns match literally and text with spaces stays one word. */
const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

const flagNames = (flag: FlagSpec) => [flag.long, flag.short].filter((name) => name !== undefined);

/** The name to offer for a flag: its long name, as long names say what they do. */
const offeredName = (flag: FlagSpec) => flag.long ?? flag.short!;

function bashScript(root: CommandSpec, program: string): string {
  const fn = `_${identifier(program)}`;
  const key = (spec: CommandSpec) => [program, ...spec.path].join(' ');
  const valueAction = (kind: ValueKind): string => {
    switch (kind.type) {
      case 'choice':
        return `${fn}_words ${shellQuote(kind.choices.join(' '))}`;
      case 'file':
        return `${fn}_files`;
      case 'directory':
        return `${fn}_directories`;
      case 'text':
        return ':';
    }
  };

  const commandArms = allCommands(root).map((spec) => {
    const valued = spec.flags.filter((flag) => flag.value !== 'none');
    const optional = spec.flags.filter((flag) => flag.value === 'optional');
    return [
      `    ${shellQuote(key(spec))})`,
      `      verbs=${shellQuote(spec.verbs.map((verb) => verb.path.at(-1)!).join(' '))}`,
      `      flags=${shellQuote(spec.flags.map(offeredName).join(' '))}`,
      `      valued=${shellQuote(valued.flatMap(flagNames).join(' '))}`,
      `      optional=${shellQuote(optional.flatMap(flagNames).join(' '))}`,
      '      ;;',
    ].join('\n');
  });

  const flagValueArms = allCommands(root).flatMap((spec) =>
    spec.flags
      .filter((flag) => flag.value !== 'none' && flag.kind.type !== 'text')
      .map((flag) => {
        const patterns = flagNames(flag).map((name) => shellQuote(`${key(spec)} ${name}`));
        return `    ${patterns.join(' | ')}) ${valueAction(flag.kind)} ;;`;
      }),
  );

  // Positionals are counted from 0 per command; a variadic one (always the last) takes the rest.
  const positionalArms = allCommands(root)
    .filter((spec) => spec.verbs.length === 0)
    .flatMap((spec) =>
      spec.args.map((arg, index) => {
        const pattern = arg.variadic
          ? `${shellQuote(`${key(spec)} #`)}*`
          : shellQuote(`${key(spec)} #${index}`);
        return `    ${pattern}) ${valueAction(arg.kind)} ;;`;
      }),
    );

  return `# bash completion for ${program}.
# Install it for your user (bash-completion then loads it the first time you complete ${program}):
#   mkdir -p ~/.local/share/bash-completion/completions
#   ${program} completion bash > ~/.local/share/bash-completion/completions/${program}
# or, with or without bash-completion, add this line to ~/.bashrc:
#   source <(${program} completion bash)
# It is a snapshot of ${program}'s verbs and flags: regenerate it after upgrading ${program}.
# Needs bash 4 or later; bash-completion is not needed.

# Sets the caller's verbs, flags, valued (the flags taking a value) and optional (those whose
# value may be left out) for the command at path $1: bash's dynamic scope hands them over
# without a subshell per TAB.
${fn}_command() {
  case $1 in
${commandArms.join('\n')}
    *)
      verbs='' flags='' valued='' optional=''
      ;;
  esac
}

# Offers the values of flag $2 of the command at path $1.
${fn}_flag_value() {
  case "$1 $2" in
${flagValueArms.join('\n')}
    *) ;;
  esac
}

# Offers positional argument number $2 (from 0) of the command at path $1; fails when the
# command takes no argument there.
${fn}_positional() {
  case "$1 #$2" in
${positionalArms.join('\n')}
    *) return 1 ;;
  esac
}

# These read cur from ${fn}. mapfile keeps names with spaces whole, which $(...) would split.
${fn}_words() {
  mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# -o filenames makes readline quote the names and mark directories with a slash. compopt
# fails outside a completion (when a test calls ${fn} itself); that costs only the marking.
${fn}_files() {
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

${fn}_directories() {
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen -d -- "$cur")
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} command_path=${shellQuote(program)} verbs flags valued optional
  local word i pending='' pending_optional='' options_ended='' positionals=0
  COMPREPLY=()
  ${fn}_command "$command_path"

  # Walk the words before the cursor the way commander parses them, to learn which command
  # is being typed, whether a flag still waits for its value, and how many positionals are in.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ -n $pending ]]; then
      # bash splits --flag=value into three words (= is in COMP_WORDBREAKS).
      [[ $word == = ]] && continue
      if [[ -z $pending_optional || $word != -* ]]; then
        pending=''
        continue
      fi
      pending=''
    fi
    if [[ -z $options_ended && $word == -* ]]; then
      if [[ $word == -- ]]; then
        options_ended=1
      elif [[ " $valued " == *" $word "* ]]; then
        pending=$word
        pending_optional=''
        [[ " $optional " == *" $word "* ]] && pending_optional=1
      fi
      continue
    fi
    if [[ " $verbs " == *" $word "* ]]; then
      command_path+=" $word"
      positionals=0
      ${fn}_command "$command_path"
    else
      positionals=$((positionals + 1))
    fi
  done

  # Right after --flag= the word under the cursor is the = itself; the value starts after it.
  [[ -n $pending && $cur == = ]] && cur=''

  if [[ -n $pending && ( -z $pending_optional || $cur != -* ) ]]; then
    ${fn}_flag_value "$command_path" "$pending"
  elif [[ -z $options_ended && $cur == -* ]]; then
    ${fn}_words "$flags"
  elif [[ -n $verbs ]]; then
    ${fn}_words "$verbs"
  elif ! ${fn}_positional "$command_path" "$positionals" && [[ -z $options_ended ]]; then
    # Nothing positional is left to type: the flags are all there is to offer.
    ${fn}_words "$flags"
  fi
  return 0
}

complete -F ${fn} ${shellWord(program)}
`;
}

/** Text inside an _arguments `[description]` or a `:message:`, where these characters are syntax. */
const zshSpecText = (text: string) => text.replace(/[\\[\]:]/g, '\\$&');

function zshAction(kind: ValueKind): string {
  switch (kind.type) {
    case 'choice':
      return `(${kind.choices.map((choice) => choice.replace(/[^\w.,@%+=/-]/g, '\\$&')).join(' ')})`;
    case 'file':
      return '_files';
    case 'directory':
      return '_files -/';
    case 'text':
      // A space: nothing to offer, but zsh still shows the value's name as a hint.
      return ' ';
  }
}

function zshFlagSpecs(flag: FlagSpec): string[] {
  const names = flagNames(flag);
  // A flag and its other spelling exclude each other, as giving both means nothing more.
  const exclusion = names.length > 1 ? `(${names.join(' ')})` : '';
  const description = `[${zshSpecText(flag.description)}]`;
  const valuePart =
    flag.value === 'none'
      ? ''
      : `${flag.value === 'optional' ? '::' : ':'}${zshSpecText(flag.valueName)}:${zshAction(flag.kind)}`;
  return names.map((name) => {
    // `--name=` takes the value as the next word or after `=`; `-n+` as the next word or glued on.
    const spelling = flag.value === 'none' ? name : name.startsWith('--') ? `${name}=` : `${name}+`;
    return shellQuote(`${exclusion}${spelling}${description}${valuePart}`);
  });
}

function zshArgSpec(arg: ArgSpec): string {
  const position = arg.variadic ? '*:' : arg.required ? ':' : '::';
  return shellQuote(`${position}${zshSpecText(arg.name)}:${zshAction(arg.kind)}`);
}

function zshScript(root: CommandSpec, program: string): string {
  const fn = `_${identifier(program)}`;
  const names = functionNames(root, fn, fn);
  const continued = (lines: string[]) => lines.map((line) => `    ${line}`).join(' \\\n');

  const functions = allCommands(root).map((spec) => {
    const name = names.get(spec)!;
    const flags = spec.flags.flatMap(zshFlagSpecs);
    const words = [program, ...spec.path].join(' ');
    if (spec.verbs.length === 0) {
      return `${name}() {
  _arguments -S \\
${continued([...flags, ...spec.args.map(zshArgSpec)])}
}`;
    }
    const verbItems = spec.verbs.map((verb) =>
      shellQuote(`${verb.path.at(-1)!.replaceAll(':', '\\:')}:${verb.description}`),
    );
    const dispatch = spec.verbs.map(
      (verb) => `        ${shellWord(verb.path.at(-1)!)}) ${names.get(verb)} && ret=0 ;;`,
    );
    return `${name}() {
  local curcontext=$curcontext state state_descr line ret=1
  typeset -A opt_args
  _arguments -C -S \\
${continued([...flags, shellQuote(': :->verb'), shellQuote('*:: :->args')])} && ret=0
  case $state in
    verb)
      local -a verbs=(
${verbItems.map((item) => `        ${item}`).join('\n')}
      )
      _describe -t commands ${shellQuote(`${words} verb`)} verbs && ret=0
      ;;
    args)
      # From here on $words starts at the verb, as if it were the command being completed.
      curcontext=\${curcontext%:*:*}:${[program, ...spec.path].map(identifier).join('-')}-$line[1]:
      case $line[1] in
${dispatch.join('\n')}
      esac
      ;;
  esac
  return ret
}`;
  });

  return `#compdef ${program}
# zsh completion for ${program}.
# Install it as _${program} in a directory on $fpath, before compinit runs in ~/.zshrc:
#   mkdir -p ~/.zfunc
#   ${program} completion zsh > ~/.zfunc/_${program}
#   # and in ~/.zshrc, above compinit: fpath=(~/.zfunc $fpath)
# or source it from ~/.zshrc, after compinit:
#   source <(${program} completion zsh)
# It is a snapshot of ${program}'s verbs and flags: regenerate it after upgrading ${program}.

${functions.join('\n\n')}

# Autoloaded from $fpath, this file is the body of ${fn}, run to complete: run the ${fn} it just
# defined. Sourced, it has to register ${fn} itself.
if [[ $funcstack[1] == ${fn} ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${shellWord(program)}
fi
`;
}

/** One word for fish, quoted only when it has to be. */
function fishWord(text: string): string {
  return /^[A-Za-z0-9_.,:@%+=/-]+$/.test(text) ? text : `'${text.replace(/[\\']/g, '\\$&')}'`;
}

/** A fish `-a` list: one string that fish splits into words again when it completes. */
const fishList = (words: readonly string[]) =>
  fishWord(words.map((word) => word.replace(/[^\w.,:@%+=/-]/g, '\\$&')).join(' '));

/** What fish offers for a value: file names, words, or nothing (the global -f keeps files out). */
function fishCandidates(kind: ValueKind, directories: string): string[] {
  switch (kind.type) {
    case 'choice':
      return ['-a', fishList(kind.choices)];
    case 'file':
      return ['-F'];
    case 'directory':
      return ['-a', fishWord(`(${directories})`)];
    case 'text':
      return [];
  }
}

function fishScript(root: CommandSpec, program: string): string {
  const prefix = `__${identifier(program)}_at`;
  const names = functionNames(root, prefix, `${prefix}_top`);
  const directories = `__${identifier(program)}_directories`;
  const complete = (condition: string, options: string[], description: string) =>
    [
      `complete -c ${fishWord(program)} -n ${condition}`,
      ...options,
      ...(description ? ['-d', fishWord(description)] : []),
    ].join(' ');

  const verbNames = (spec: CommandSpec) => spec.verbs.map((verb) => verb.path.at(-1)!);

  // __fish_seen_subcommand_from only says a word was typed, and `list` is a verb of versions,
  // instances and sockets alike, `help` of every command with verbs. So a command is being typed
  // when all its verbs were seen and no other verb of the levels it passes through (nor one of its own).
  const conditions = allCommands(root).map((spec) => {
    const name = names.get(spec)!;
    if (spec === root) return `function ${name}\n    __fish_use_subcommand\nend`;
    const ancestors = allCommands(root).filter(
      (other) => other.path.length < spec.path.length && other.path.every((verb, i) => spec.path[i] === verb),
    );
    const others = [...new Set([...ancestors, spec].flatMap(verbNames))].filter(
      (verb) => !spec.path.includes(verb),
    );
    const lines = spec.path.map((verb) => `__fish_seen_subcommand_from ${fishWord(verb)}`);
    if (others.length > 0) lines.push(`not __fish_seen_subcommand_from ${others.map(fishWord).join(' ')}`);
    return `function ${name}\n    ${lines.join('\n    and ')}\nend`;
  });

  const completions = allCommands(root).flatMap((spec) => {
    const at = names.get(spec)!;
    const verbs = spec.verbs.map((verb) =>
      complete(at, ['-a', fishWord(verb.path.at(-1)!)], verb.description),
    );
    const flags = spec.flags.map((flag) => {
      const spellings = [
        ...(flag.short ? ['-s', fishWord(flag.short.slice(1))] : []),
        ...(flag.long ? ['-l', fishWord(flag.long.slice(2))] : []),
      ];
      // fish cannot say "a value, unless the next word is a flag": an optional value is left to the user.
      // -r lets the value be a file name (-F), -x is -r with files kept out.
      const value =
        flag.value !== 'required'
          ? []
          : [flag.kind.type === 'file' ? '-r' : '-x', ...fishCandidates(flag.kind, directories)];
      return complete(at, [...spellings, ...value], flag.description);
    });
    // fish does not count positionals; each kind a command's arguments take is offered for all of them.
    const args =
      spec.verbs.length > 0
        ? []
        : spec.args
            .filter((arg) => arg.kind.type !== 'text')
            .map((arg) => complete(at, fishCandidates(arg.kind, directories), ''));
    return [`# ${[program, ...spec.path].join(' ')}`, ...verbs, ...flags, ...args, ''];
  });

  return `# fish completion for ${program}.
# Install it for your user (fish loads it the first time you complete ${program}):
#   ${program} completion fish > ~/.config/fish/completions/${program}.fish
# It is a snapshot of ${program}'s verbs and flags: regenerate it after upgrading ${program}.

${conditions.join('\n\n')}

# __fish_complete_directories completes the whole token, and after --flag= that would be
# offered as --flag=--flag=dir: hand it only what follows the =.
function ${directories}
    __fish_complete_directories (commandline -ct | string replace -r '^-[^=]*=' '')
end

# No file names unless a flag or argument takes a path.
complete -c ${fishWord(program)} -f

${completions.join('\n').trimEnd()}
`;
}

/** The completion script for `shell`, generated from `program`'s verbs, flags and arguments. */
export function completionScript(program: Command, shell: CompletionShell): string {
  const root = commandSpec(program, [], program.createHelp());
  switch (shell) {
    case 'bash':
      return bashScript(root, program.name());
    case 'zsh':
      return zshScript(root, program.name());
    case 'fish':
      return fishScript(root, program.name());
    default:
      throw unknownShell(shell);
  }
}

function unknownShell(shell: string): HangarError {
  return new HangarError(
    'USAGE',
    `no completion for the shell '${shell}': hangar completion takes one of ${COMPLETION_SHELLS.join(', ')}`,
  );
}

function isCompletionShell(shell: string): shell is CompletionShell {
  return (COMPLETION_SHELLS as readonly string[]).includes(shell);
}

/**
 * Runs `hangar completion SHELL`: the script for SHELL on stdout. `program` is the one being
 * run (program.ts passes itself: this module must not import it, or the two would import each
 * other).
 */
export async function runCompletion(shell: string, program: Command): Promise<void> {
  if (!isCompletionShell(shell)) throw unknownShell(shell);
  process.stdout.write(completionScript(program, shell));
}
