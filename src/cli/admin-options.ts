import type { Command } from 'commander';

/** The flags every verb that talks to the admin API takes (SPEC S2), with their defaults. */
export function withAdminOptions(
  command: Command,
  jsonHelp = 'print the admin API document as JSON',
): Command {
  return command
    .option('--server <url>', 'admin API of the platform', 'http://127.0.0.1:8000')
    .option('--token <token>', 'admin token (default: HANGAR_TOKEN or <data-dir>/admin-token)')
    .option('--data-dir <dir>', 'data dir holding admin-token', '.hangar')
    .option('--json', jsonHelp);
}
