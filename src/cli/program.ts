/**
 * The `hangar` command line's shape (SPEC S2): every verb, its flags and its help text. Each
 * verb's work lives in its own file under src/cli and is imported only when it runs, so
 * `hangar --help` and shell completion (completion.ts walks this tree) load none of them.
 */
import { Argument, Command, Option } from 'commander';
import { version } from '../shared/version.js';
import { withAdminOptions } from './admin-options.js';
import { type DevFlags, devDefaults, devEnv } from './dev-options.js';
import { parsePort } from './options.js';
import type { ServeFlags } from './serve.js';

/**
 * The options the user typed. Commander fills in nothing for `dev` except `watch: true` (the
 * `--no-watch` flag's implied default), which is dropped here: defaults, environment variables
 * and the platform config file are resolveDevOptions' business (dev-options.ts).
 */
function typedOptions<T extends object>(command: Command): Partial<T> {
  const typed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(command.opts())) {
    if (command.getOptionValueSource(key) === 'cli') typed[key] = value;
  }
  return typed as Partial<T>;
}

/** Help text's tail: where an option comes from when the flag is not given. */
const from = (env: string, fallback?: string | number) =>
  `(env ${env}${fallback === undefined ? '' : `; default ${fallback}`})`;

/** Builds the `hangar` program; main.ts parses the command line with it. */
export function hangarProgram(): Command {
  const program = new Command('hangar')
    .description('A self-hostable application platform in the mould of the App Engine standard environment')
    .version(version)
    // Without this the program's own --version wins anywhere on the line, and
    // `hangar deploy --version v2` (or `hangar logs --version v2`) prints Hangar's version instead.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });

  program
    .command('dev')
    .description('run the local development server for one or more services')
    .argument('[paths...]', 'app directories or app.yaml files (several = several services)', ['.'])
    .addOption(
      new Option(
        '--port <port>',
        `port for app traffic (0 = any free port) ${from(devEnv.port, devDefaults.port)}`,
      ).argParser((v) => parsePort(v, '--port')),
    )
    .addOption(
      new Option(
        '--admin-port <port>',
        `port for the admin API (0 = any free port) ${from(devEnv.adminPort, devDefaults.adminPort)}`,
      ).argParser((v) => parsePort(v, '--admin-port')),
    )
    .addOption(new Option('--host <host>', `address to listen on ${from(devEnv.host, devDefaults.host)}`))
    .addOption(
      new Option(
        '--data-dir <dir>',
        `where logs, caches and sockets live ${from(devEnv.dataDir, devDefaults.dataDir)}`,
      ),
    )
    .addOption(
      new Option(
        '--config <file>',
        `platform config file ${from(devEnv.config, '<data-dir>/hangar.config.yaml if present')}`,
      ),
    )
    .addOption(
      new Option(
        '--application <id>',
        `application id instead of app.yaml's application: ${from(devEnv.application)}`,
      ),
    )
    .option('--no-watch', 'do not restart instances when app files change')
    .addOption(
      new Option('--https-port <port>', 'also serve HTTPS on this port (0 = any free port)').argParser((v) =>
        parsePort(v, '--https-port'),
      ),
    )
    .addOption(new Option('--tls-cert <file>', 'PEM certificate (chain) for --https-port'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --https-port'))
    .option('--tls-self-signed', 'make (once) and use a self-signed localhost certificate for --https-port')
    .option(
      '--strict-sockets',
      `refuse loopback and private socket destinations, as production does ${from(devEnv.strictSockets, 'sockets.strict')}`,
    )
    .addOption(
      new Option(
        '--inspect [port]',
        'let a debugger attach: each service runs one instance, its inspector on 127.0.0.1:PORT (default 9229; further services on the ports after it)',
      ).argParser((v) => parsePort(v, '--inspect')),
    )
    .option(
      '--full-traces',
      "stack traces with every frame (Hangar's, Node's, node_modules'), on the terminal and on error pages",
    )
    .action(async (paths: string[], _opts: unknown, command: Command) => {
      const { runDev } = await import('./dev.js');
      await runDev(paths, typedOptions<DevFlags>(command));
    });

  program
    .command('init')
    .description('write a runnable app from a template into DIR, then print the command to run next')
    .argument(
      '[dir]',
      'where to write the app: created if missing, and must not hold any file the template writes',
      '.',
    )
    .addOption(
      new Option('--template <name>', 'what the app is made of (see below)')
        .choices(['fetch', 'hono', 'express', 'cgi', 'entrypoint'])
        .default('fetch'),
    )
    .addHelpText(
      'after',
      `
Templates:
  fetch       a TypeScript fetch handler and a folder of static files
  hono        a Hono app in TypeScript
  express     an Express app, handed to Hangar with fromNode
  cgi         CGI scripts in sh
  entrypoint  the app's own Node server on $PORT, started by npm start (App Engine's way)`,
    )
    .action(async (dir: string, opts: { template: string }) => {
      const { runInit } = await import('./init.js');
      await runInit(dir, opts);
    });

  program
    .command('serve')
    .description('run the platform on this machine: serve the versions deployed under --data-dir')
    .addOption(
      new Option('--port <port>', 'port for app traffic (0 = any free port) (default 8080)').argParser((v) =>
        parsePort(v, '--port'),
      ),
    )
    .addOption(
      new Option(
        '--https-port <port>',
        'also serve HTTPS on this port (needs --tls-cert and --tls-key)',
      ).argParser((v) => parsePort(v, '--https-port')),
    )
    .addOption(new Option('--tls-cert <file>', 'PEM certificate (chain) for --https-port'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --https-port'))
    .addOption(
      new Option(
        '--admin-port <port>',
        'port for the admin API (0 = any free port) (default 8000)',
      ).argParser((v) => parsePort(v, '--admin-port')),
    )
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--domain <domain>', 'hostnames are VERSION-dot-SERVICE-dot-APP.<domain> (default localhost)')
    .option('--data-dir <dir>', 'where versions, logs and state live (default ./hangar-data)')
    .option(
      '--database <url>',
      'keep the state in PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB), shared by every node on it (default: SQLite in the data dir)',
    )
    .option(
      '--node <name>',
      "this node's name among the nodes on --database (default: kept in <data-dir>/node-name)",
    )
    .option(
      '--peer-host <addr>',
      "where the other nodes on --database reach this node's socket service for attach (default 127.0.0.1)",
    )
    .option('--config <file>', 'platform config file (default <data-dir>/hangar.config.yaml if present)')
    .action(async (_opts: unknown, command: Command) => {
      const { runServe } = await import('./serve.js');
      await runServe(typedOptions<ServeFlags>(command));
    });

  program
    .command('validate')
    .description('check app.yaml and the deploy file limits')
    .argument('[path]', 'app directory or app.yaml', '.')
    .addOption(new Option('--config <file>', 'also validate this platform config file'))
    .action(async (path: string, opts: { config?: string }) => {
      const { runValidate } = await import('./validate.js');
      process.exitCode = await runValidate(path, opts);
    });

  withAdminOptions(
    program
      .command('deploy')
      .description('upload services to a running `hangar serve`, build them there, and promote them')
      .argument(
        '[paths...]',
        "service directories or app.yaml files (several = several services), and a dispatch.yaml with the app's routing rules",
        ['.'],
      ),
    'print one JSON document with what was deployed (progress and build output go to stderr)',
  )
    .option('--version <version>', "the version's name instead of app.yaml's version: (default: generated)")
    .option('--no-promote', 'keep traffic where it is; the new version is reachable by its own host')
    .option('--application <id>', "application id instead of app.yaml's application:")
    .action(async (paths: string[], opts) => {
      const { runDeploy } = await import('./deploy.js');
      process.exitCode = await runDeploy(paths, opts);
    });

  const versions = program.command('versions').description('versions deployed to `hangar serve`');
  withAdminOptions(
    versions
      .command('list')
      .description('list versions: service, version, minor, traffic share, instances, created, runtime'),
  )
    .option('--service <name>', 'only this service')
    .option('--app <id>', 'only this app')
    .action(async (opts) => {
      const { runVersionsList } = await import('./versions.js');
      await runVersionsList(opts);
    });
  withAdminOptions(
    versions
      .command('promote')
      .description("send all of the service's traffic to a version; the old version drains")
      .argument('<version>', 'the version to promote'),
  )
    .option('--service <name>', 'its service (default: default)')
    .option('--app <id>', 'its app (may be left out when the platform has one)')
    .action(async (version: string, opts) => {
      const { runVersionsPromote } = await import('./versions.js');
      await runVersionsPromote(version, opts);
    });
  withAdminOptions(
    versions
      .command('split')
      .description(
        "share a service's traffic between versions by weight; a client keeps its version while its bucket does",
      ),
  )
    .requiredOption('--splits <splits>', 'versions and weights, two decimals, summing to 1: v1=0.7,v2=0.3')
    .addOption(
      new Option('--by <how>', 'how requests are assigned: GOOGAPPUID cookie, client address, or at random')
        .choices(['cookie', 'ip', 'random'])
        .default('ip'),
    )
    .option('--service <name>', 'its service (default: default)')
    .option('--app <id>', 'its app (may be left out when the platform has one)')
    .action(async (opts) => {
      const { runVersionsSplit } = await import('./versions.js');
      await runVersionsSplit(opts);
    });
  withAdminOptions(
    versions
      .command('delete')
      .description('delete a version: its instances stop and its files go; refused while it receives traffic')
      .argument('<version>', 'the version to delete'),
  )
    .option('--service <name>', 'its service (default: default)')
    .option('--app <id>', 'its app (may be left out when the platform has one)')
    .action(async (version: string, opts) => {
      const { runVersionsDelete } = await import('./versions.js');
      await runVersionsDelete(version, opts);
    });

  const instances = program.command('instances').description('instances of the running platform');
  withAdminOptions(
    instances
      .command('list')
      .description('list instances (state, busy slots, requests, memory) and the latest scaling decisions'),
  )
    .option('--app <id>', 'only this app (several apps share one serve)')
    .option(
      '--decisions <n>',
      'how many scaling decisions to show (0: none)',
      (v) => Number.parseInt(v, 10),
      20,
    )
    .action(async (opts) => {
      const { runInstancesList } = await import('./instances.js');
      await runInstancesList(opts);
    });

  withAdminOptions(
    instances
      .command('stop')
      .description(
        'drain and stop one instance (its requests finish first); the version starts another if it needs one',
      )
      .argument('<id>', 'instance id, or the prefix `instances list` shows'),
  ).action(async (id: string, opts) => {
    const { runInstancesStop } = await import('./instances.js');
    await runInstancesStop(id, opts);
  });

  withAdminOptions(
    program
      .command('nodes')
      .description('the nodes of a platform on one PostgreSQL database (serve --database), alive or gone'),
  ).action(async (opts) => {
    const { runNodes } = await import('./nodes.js');
    await runNodes(opts);
  });

  withAdminOptions(
    program
      .command('quotas')
      .description(
        "today's requests, bandwidth and instance-hours per app and version, against the daily quotas",
      ),
  )
    .option('--day <date>', 'a UTC date YYYY-MM-DD instead of today')
    .option('--app <id>', 'only this app (several apps share one serve)')
    .action(async (opts) => {
      const { runQuotas } = await import('./quotas.js');
      await runQuotas(opts);
    });

  withAdminOptions(
    program
      .command('logs')
      .description('request logs with their app lines: a table, --json objects, or --tail to follow'),
  )
    .option('--app <id>', 'only this app (several apps share one serve)')
    .option('--service <name>', 'only this service')
    .option('--version <version>', 'only this version')
    .option('--request-id <id>', 'only this request (its REQUEST_LOG_ID)')
    .option(
      '--min-level <level>',
      'requests with a line at this level or above: debug, info, warning, error, critical',
    )
    .option('--since <time>', 'started at or after: ISO 8601 time, epoch ms, or a duration ago (15m, 2h)')
    .option('--until <time>', 'started before: ISO 8601 time, epoch ms, or a duration ago')
    .option('--status <code>', 'only this HTTP status')
    .option('--grep <text>', 'the resource or a line contains this text (case-sensitive)')
    .option('--limit <n>', 'the newest n requests (default 100; 10 with --tail)')
    .option('--tail', 'keep following: print each new request as it finishes')
    .option(
      '--full-traces',
      "stack traces with every frame, not only the app's own (--json always has them all)",
    )
    .action(async (opts) => {
      const { runLogs } = await import('./logs.js');
      await runLogs(opts);
    });

  const sockets = program.command('sockets').description('open sockets of apps (through the socket service)');
  withAdminOptions(
    sockets
      .command('list')
      .description('list open sockets: app, destination, bytes each way, age and idle countdown'),
  )
    .option('--app <id>', 'only this app (several apps share one serve)')
    .action(async (opts) => {
      const { runSocketsList } = await import('./sockets.js');
      await runSocketsList(opts);
    });

  const exportVerb = program
    .command('export')
    .description('write what the platform runs in the form another platform runs it');
  withAdminOptions(
    exportVerb
      .command('kubernetes')
      .description(
        'write Knative Services (one per version), Routes (traffic splits), the socket service and front end as Deployments, Dockerfiles and a README, from a running `hangar serve`',
      ),
    'print what was written as one JSON document',
  )
    .option(
      '--out <dir>',
      'where to write (default ./hangar-kubernetes; an earlier export there is replaced)',
    )
    .option('--app <id>', 'only this app')
    .option('--service <name>', 'only this service')
    .option('--version <version>', 'only this version')
    .option('--namespace <name>', 'the Kubernetes namespace of everything written (default hangar)')
    .option(
      '--registry <prefix>',
      'image names start with this (default dev.local, which Knative does not resolve)',
    )
    .option('--domain <domain>', "the front end's --domain (default localhost)")
    .option(
      '--database-secret <name>',
      'a Secret (key url: the postgres:// URL) in the namespace: pods write request logs and metering to that database, the front end runs as serve nodes on it',
    )
    .action(async (opts) => {
      const { runExportKubernetes } = await import('./export-kubernetes.js');
      await runExportKubernetes(opts);
    });

  program
    .command('completion')
    .description(
      'print a shell completion script for bash, zsh or fish; its first lines say how to install it',
    )
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(['bash', 'zsh', 'fish']))
    .action(async (shell: string) => {
      const { runCompletion } = await import('./completion.js');
      await runCompletion(shell, program);
    });

  return program;
}
