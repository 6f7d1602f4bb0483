import type { Command } from 'commander';

/** The flags every verb that talks to the admin API takes (SPEC S2), with their defaults. */
export function withAdminOptions(
  command: Command,
  jsonHelp = 'print the admin API document as JSON',
): Command {
  return command
    .option(
      '--server <url>',
      'admin API of the platform (default: the one running on --data-dir, else http://127.0.0.1:8000)',
    )
    .option('--token <token>', 'admin token (default: HANGAR_TOKEN or <data-dir>/admin-token)')
    .option('--data-dir <dir>', "the platform's data dir (default: .hangar, then hangar-data)")
    .option('--json', jsonHelp);
}
