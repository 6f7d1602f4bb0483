/**
 * Entry point of an instance process (SPEC S6). The platform starts it with
 * `HANGAR_INSTANCE_INIT` in its environment and an IPC channel; it loads the app's module
 * handlers once (S7), listens on its Unix socket and reports `ready`, or reports `failed`
 * with a message that says what to fix, and exits.
 *
 * A **warm spare** (`HANGAR_INSTANCE_SPARE=1`, src/scheduler/warm-spares.ts) is started before
 * any app needs it: it loads Hangar's own modules, reports `spare` and waits for an `init`
 * message naming the app version it becomes; then it goes on exactly as above. Until then it has
 * run no app code, and once it has it never serves another version.
 */
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { isHangarError } from '../shared/errors.js';
import type { InstanceInit, InstanceMessage } from '../shared/messages.js';
import { channelSocketPath, inspectorSocketPath } from '../shared/request-channel.js';
import { trimStack } from '../shared/stack-trim.js';
// Hangar's own modules that every instance loads, statically: a warm spare has them loaded
// before it knows its app, and `npm run build` bundles them into one file with this one
// (scripts/build-instance.mjs), which loads in half the time of the separate files.
import { installFromInit } from '../sockets/client/install.js';
import { type LoadedHandler, loadModuleHandler } from './app-loader.js';
import { createChannelServer } from './channel-server.js';
import type { EntrypointServer } from './entrypoint.js';
import { showErrorDetail } from './error-page.js';
import { readInstanceInit, readPlatformMessage } from './init.js';
import { installLightResponse } from './light-response.js';
import { captureConsole, flushLogs, logLine } from './log-capture.js';
import { installPerRequestEnv } from './request-context.js';
import { createInstanceServer } from './server.js';

function send(message: InstanceMessage): void {
  process.send?.(message);
}

/** The app's own server, when a handler is `script: auto` (entrypoint.ts). */
let ownServer: EntrypointServer | undefined;
/** Keep-alive connections the instance keeps to the app's own server. */
const OWN_SERVER_CONNECTIONS = 64;

// The platform going away (even by SIGKILL) closes the IPC channel; an instance never outlives
// it, nor does the app's own server. A spare waiting for its app neither.
process.on('disconnect', () => {
  ownServer?.kill();
  process.exit(0);
});
// Ctrl-C in a terminal signals the whole process group, instances too: the platform drains and
// stops them itself (its `stop` message lets in-flight requests finish), so it is not theirs.
process.on('SIGINT', () => {});

const spare = process.env.HANGAR_INSTANCE_SPARE === '1';
delete process.env.HANGAR_INSTANCE_SPARE;
let init: InstanceInit;
try {
  init = spare ? await becomeInstance() : readInstanceInit(process.env.HANGAR_INSTANCE_INIT);
} catch (err) {
  send({
    type: 'failed',
    error: {
      code: 'HANGAR_E_INSTANCE_START_FAILED',
      message: err instanceof Error ? err.message : String(err),
    },
  });
  process.exit(1);
}
delete process.env.HANGAR_INSTANCE_INIT;

/**
 * A spare's wait for the platform's `init` (Hangar's own modules are loaded by then: they are
 * this module's imports). The message listener is there before `spare` is reported, and the
 * platform sends `init` only after it, so the message cannot be missed.
 */
async function becomeInstance(): Promise<InstanceInit> {
  const message = new Promise<unknown>((resolve) => {
    const onMessage = (raw: unknown) => {
      if ((raw as { type?: unknown } | null)?.type !== 'init') return;
      process.off('message', onMessage);
      resolve((raw as { init?: unknown }).init);
    };
    process.on('message', onMessage);
  });
  send({ type: 'spare' });
  const value = await message;
  return readInstanceInit(typeof value === 'object' && value !== null ? value : undefined);
}

Object.assign(process.env, init.env);
showErrorDetail(init.errorDetail ?? 'none');
installPerRequestEnv();
// Before app code runs: `new Response(...)` in handlers makes the light kind (light-response.ts),
// unless the app asks for Node's own with `HANGAR_REAL_RESPONSE: '1'` in env_variables.
if (process.env.HANGAR_REAL_RESPONSE !== '1') installLightResponse();
// App log lines (S9) go to the platform with their request's id, from the app's first line on.
captureConsole();
process.chdir(init.appDir);

try {
  // Before the sockets shim: the instance reaches the app's own server over its own loopback,
  // with the `net` the shim is about to patch for app code (entrypoint.ts keeps it).
  const entrypoint = init.entrypoint ? await import('./entrypoint.js') : undefined;
  // The app's own processes (its server, CGI scripts) reach out through the socket service's
  // egress proxy, on this instance's loopback (S4.3).
  const ownProcesses = init.handlers.some((h) => h.kind === 'entrypoint' || h.kind === 'cgi');
  const bridge =
    ownProcesses && init.sockets
      ? await (await import('./egress-bridge.js')).startEgressBridge({
          sockets: init.sockets,
          instance: init.instanceId,
          service: init.env.CURRENT_MODULE_ID,
          version: init.env.CURRENT_VERSION_ID?.split('.')[0],
        })
      : undefined;
  // Sockets go through the socket service (S12): patch net/tls/dgram/dns before app code loads
  // (and after entrypoint.ts took the unpatched `net`).
  if (init.sockets) installFromInit(init);
  // Before the app's code: a debugger can attach while it loads.
  if (init.inspect)
    await (await import('./inspector-relay.js')).startInspectorRelay(inspectorSocketPath(init.socketPath));
  // The app's own server (script: auto, S4.3) first: it is what the instance waits for longest.
  if (init.entrypoint && entrypoint) {
    ownServer = await entrypoint.startEntrypoint({
      command: init.entrypoint.command,
      appDir: init.appDir,
      env: { ...process.env, ...bridge?.env },
      preload: {
        instanceId: init.instanceId,
        service: init.env.CURRENT_MODULE_ID,
        // MAJOR of MAJOR.MINOR, as the module instances' shim says it.
        version: init.env.CURRENT_VERSION_ID?.split('.')[0],
        cacheDir: init.cacheDir,
        sockets: init.sockets,
      },
      // Inside the platform's own start timeout, so that this error (with the server's stderr)
      // is the one the platform reports, not a bare timeout.
      startTimeoutMs: Math.max(1_000, init.entrypoint.startTimeoutMs - 2_000),
      connections: OWN_SERVER_CONNECTIONS,
      // The platform ends the server's group too if this process is killed before it can.
      onSpawn: (pid) => send({ type: 'entrypoint', pid }),
      onExit(reason) {
        logLine('critical', `${reason}; the instance ends with it and the platform replaces it`);
        void flushLogs().then(() => process.exit(1));
      },
    });
  }
  // A deployed version compiled at deploy loads its compiled files, and `hangar` through the
  // version dir's node_modules link: no loader thread (src/versions/precompile.ts). Otherwise the
  // loader hooks (`hangar` imports, TypeScript), only after Hangar's own modules are loaded: each
  // import through them is a round trip to the loader thread, and Hangar's need none. Not at all
  // when the app's code runs only in its own server (which gets them preloaded).
  const appCodeHere = init.handlers.some((h) => h.kind !== 'entrypoint');
  if (appCodeHere && init.precompiled) (await import('./app-modules.js')).usePrecompiled();
  else if (appCodeHere) {
    if (init.hooksBecause)
      process.stderr.write(
        `hangar: this instance compiles TypeScript with the loader hooks (a thread, slower to start): ${init.hooksBecause}\n`,
      );
    const { register } = await import('node:module');
    register('./loader-hooks.js', { parentURL: import.meta.url, data: { cacheDir: init.cacheDir } });
  }
  const handlers: LoadedHandler[] = [];
  for (const handler of init.handlers) {
    handlers.push(
      handler.kind === 'module'
        ? await loadModuleHandler(init.appDir, handler.module, handler.exportName)
        : handler.kind === 'cgi'
          ? { kind: 'cgi', script: handler.script }
          : { kind: 'entrypoint', server: ownServer! },
    );
  }
  const server = createInstanceServer(handlers);
  server.keepAliveTimeout = 60_000;
  const channel = createChannelServer(handlers, {
    ...init.limits,
    appDir: init.appDir,
    instanceEnv: { ...init.env, ...bridge?.env },
  });
  const listen = (target: Server | NetServer, path: string) =>
    new Promise<void>((resolve, reject) => {
      target.once('error', reject);
      target.listen(path, resolve);
    });
  await Promise.all([listen(server, init.socketPath), listen(channel, channelSocketPath(init.socketPath))]);
  process.on('message', (raw) => {
    const message = readPlatformMessage(raw);
    if (!message) return;
    if (message.type === 'stop') {
      // The last app lines leave before the process does.
      // The front end stopped routing here; once its in-flight requests are answered, it closes the channel.
      channel.close();
      server.close(
        () =>
          void (ownServer?.stop() ?? Promise.resolve()).then(() => flushLogs()).then(() => process.exit(0)),
      );
      server.closeIdleConnections();
    } else if (message.type === 'ping') {
      send({ type: 'pong', id: message.id, rss: process.memoryUsage.rss() });
    }
  });
  // Liveness and memory for the supervisor (S6 memory limits); unref'd so it never keeps the process up.
  setInterval(
    () => send({ type: 'heartbeat', rss: process.memoryUsage.rss() }),
    init.heartbeatIntervalMs,
  ).unref();
  send({
    type: 'ready',
    nodeHandlers: handlers.flatMap((handler, index) => (handler.kind === 'node' ? [index] : [])),
  });
} catch (err) {
  const error = isHangarError(err)
    ? { code: err.code, message: err.message }
    : {
        code: 'HANGAR_E_INSTANCE_START_FAILED',
        message: err instanceof Error ? (err.stack ?? err.message) : String(err),
      };
  // Why the app did not start, in its own frames (Hangar's and Node's say nothing about it)
  // unless `hangar dev --full-traces`.
  if (init.errorDetail !== 'full')
    error.message = trimStack(error.message, 'hangar dev --full-traces shows them');
  process.removeAllListeners('disconnect');
  ownServer?.kill();
  // Exit only once the message is out, so the platform gets the reason and not just an exit code.
  if (process.send) process.send({ type: 'failed', error } satisfies InstanceMessage, () => process.exit(1));
  else process.exit(1);
}
