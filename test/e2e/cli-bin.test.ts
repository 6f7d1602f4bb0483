import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cli, repoRoot } from '../helpers/dev-server.js';

const run = promisify(execFile);

describe('the hangar bin', () => {
  it('runs by itself through its shebang, as npx and the package bin link run it', async () => {
    // No `node` in front: the file must be executable and start with #!/usr/bin/env node.
    const { stdout } = await run(cli, ['--version']);
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(stdout.trim()).toBe(version);
  });

  it('exits 2 for an unknown command, with no stack trace', async () => {
    const failure = await run(cli, ['no-such-verb']).catch((err: { code: number; stderr: string }) => err);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain("unknown command 'no-such-verb'");
    expect((failure as { stderr: string }).stderr).not.toMatch(/^\s+at /m);
  });

  it('speaks to users in its help, without the SPEC’s section numbers', async () => {
    const commands = [
      [],
      ['dev'],
      ['serve'],
      ['validate'],
      ['deploy'],
      ['logs'],
      ['instances', 'list'],
      ['sockets', 'list'],
      ['versions', 'list'],
      ['quotas'],
    ];
    for (const command of commands) {
      const { stdout } = await run(process.execPath, [cli, ...command, '--help']);
      expect(stdout, `hangar ${command.join(' ')} --help`).not.toMatch(/\(S\d+\)/);
    }
  });
});
