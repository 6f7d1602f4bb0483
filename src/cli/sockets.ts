import { formatSize } from '../config/durations.js';
import type { SocketView } from '../sockets/ipc.js';
import { type AdminClientOptions, adminGetJson } from './admin-client.js';
import { formatTable } from './table.js';

export interface SocketsOptions extends AdminClientOptions {
  json?: boolean;
  /** Only this app's sockets. */
  app?: string;
}

/** `hangar sockets list` (SPEC S2, S12): the socket service's open sockets. */
export async function runSocketsList(opts: SocketsOptions): Promise<void> {
  const all = await adminGetJson<{ sockets: SocketView[] }>(opts, '/api/sockets');
  const doc = opts.app === undefined ? all : { sockets: all.sockets.filter((s) => s.app === opts.app) };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatSockets(doc.sockets));
}

/** `4m 05s`, `12s`, `850ms`: a duration for a table cell. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * The table `hangar sockets list` prints: one socket per line with its app, destination, bytes
 * each way, age and the idle countdown until it is reclaimed.
 */
export function formatSockets(sockets: readonly SocketView[]): string {
  // Several nodes on one database (S16): which node's socket service holds each socket.
  const nodes = sockets.some((s) => s.node !== undefined);
  const rows = [
    [
      ...(nodes ? ['NODE'] : []),
      'SOCKET',
      'APP',
      'PROTO',
      'DESTINATION',
      'SENT',
      'RECEIVED',
      'AGE',
      'RECLAIM IN',
      'INSTANCE',
    ],
  ];
  for (const s of sockets) {
    rows.push([
      ...(nodes ? [s.node ?? '-'] : []),
      s.id,
      s.service ? `${s.app} (${s.service}/${s.version ?? '?'})` : s.app,
      s.protocol,
      s.destination === null
        ? '-'
        : s.remote && s.remote !== s.destination
          ? `${s.destination} (${s.remote})`
          : s.destination,
      formatSize(s.bytesSent),
      formatSize(s.bytesReceived),
      duration(s.ageMs),
      duration(s.reclaimInMs),
      s.instance ? s.instance.slice(0, 8) : '(detached)',
    ]);
  }
  let out = formatTable(rows);
  if (sockets.length === 0) out += '\n(no open sockets)';
  return `${out}\n`;
}
