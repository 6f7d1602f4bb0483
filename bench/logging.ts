/**
 * The request-log benchmark (issue 5): an app that logs N lines per request, one instance, so
 * the cost of capturing, shipping and storing lines is what differs between targets; and a
 * check that 10,000 requests × 10 lines all reach the store.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { hangarDev, startHangarDev, stopChild, type Target } from './targets.js';

const root = resolve(import.meta.dirname, '..');

function loggingApp(lines: number): string {
  const dir = mkdtempSync(join(tmpdir(), `hangar-bench-log${lines}-`));
  cpSync(join(root, 'examples/hello'), dir, { recursive: true });
  writeFileSync(
    join(dir, 'app.yaml'),
    `runtime: nodejs20\nmanual_scaling:\n  instances: 1\nenv_variables:\n  LOG_LINES: ${lines}\nhandlers:\n  - url: /.*\n    script: logging.app\n`,
  );
  writeFileSync(
    join(dir, 'logging.ts'),
    [
      "import type { HandlerContext } from 'hangar';",
      'const lines = Number(process.env.LOG_LINES);',
      'export function app(_request: Request, ctx: HandlerContext): Response {',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the generated module holds a template literal
      '  for (let i = 0; i < lines; i++) (i % 2 ? console.log : ctx.log.info)(`bench line ${i} of ${ctx.requestId}`);',
      "  return new Response('Hello, World!');",
      '}',
      '',
    ].join('\n'),
  );
  return dir;
}

/** `hangar dev` serving an app that logs `lines` lines per request. */
export async function hangarLogging(lines: number): Promise<Target> {
  const dir = loggingApp(lines);
  const target = await hangarDev(`hangar dev, ${lines} log lines/request`, dir);
  return {
    ...target,
    stop: async () => {
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** 10,000 requests × 10 lines, then the platform stops and the store is counted. */
export async function verifyNoLineLost(requests = 10_000, lines = 10): Promise<string> {
  const dir = loggingApp(lines);
  const { child, url, dataDir } = await startHangarDev(dir);
  try {
    const started = performance.now();
    const result = await autocannon({ url: `${url}check`, connections: 50, amount: requests });
    const seconds = (performance.now() - started) / 1000;
    await stopChild(child, 'SIGINT');
    const db = new Database(join(dataDir, 'hangar.db'), { readonly: true });
    // Lines of the /check requests whose text names their own request: none lost, none misattributed.
    const stored = db
      .prepare(
        `SELECT count(*) AS n FROM (
           SELECT r.request_id AS id, j.value ->> 2 AS message FROM request_logs r, json_each(r.lines) j
             WHERE r.resource = '/check'
           UNION ALL
           SELECT g.request_id, j.value ->> 2 FROM log_line_groups g JOIN request_logs r ON g.request_id = r.request_id,
             json_each(g.lines) j WHERE r.resource = '/check'
         ) WHERE message LIKE 'bench line %' AND message LIKE '% of ' || id`,
      )
      .get() as { n: number };
    const records = db.prepare("SELECT count(*) AS n FROM request_logs WHERE resource = '/check'").get() as {
      n: number;
    };
    db.close();
    const sent = result.requests.total;
    const ok = sent - result.non2xx - result.errors;
    return (
      `\n**logging check**: ${sent} requests × ${lines} lines in ${seconds.toFixed(1)} s (${result.non2xx + result.errors} errors/non-2xx); ` +
      `request records stored: ${records.n} of ${ok}; lines stored under their own request: ${stored.n} of ${ok * lines}` +
      `${stored.n === ok * lines && records.n === ok ? ' — none lost' : ' — LINES MISSING'}\n`
    );
  } finally {
    await stopChild(child, 'SIGINT');
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}
