/**
 * `hangar nodes` (docs/scale-out.md): the nodes of a platform on a shared database, with each
 * node's front end and whether it is alive (its heartbeat younger than 10 s).
 */
import { HangarError, isHangarError } from '../shared/errors.js';
import { type AdminClientOptions, adminGetJson } from './admin-client.js';
import { formatTable } from './table.js';

export interface NodesOptions extends AdminClientOptions {
  json?: boolean;
}

/** One node as `GET /api/nodes` lists it (src/platform/cluster.ts NodeView). */
export interface NodeRow {
  node: string;
  started: string;
  lastSeen: string;
  url: string;
  alive: boolean;
}

export async function runNodes(opts: NodesOptions): Promise<void> {
  let doc: { nodes: NodeRow[] };
  try {
    doc = await adminGetJson<{ nodes: NodeRow[] }>(opts, '/api/nodes');
  } catch (err) {
    if (isHangarError(err) && err.code === 'HANGAR_E_ADMIN_API' && / answered 404/.test(err.message)) {
      throw new HangarError(
        'USAGE',
        'this platform is one node: only `hangar serve --database postgres://...` has nodes (docs/scale-out.md)',
      );
    }
    throw err;
  }
  process.stdout.write(opts.json ? `${JSON.stringify(doc, null, 2)}\n` : formatNodes(doc.nodes));
}

/** The table `hangar nodes` prints: name, state, front end, start and last heartbeat. */
export function formatNodes(nodes: readonly NodeRow[]): string {
  const rows = [['NODE', 'STATE', 'FRONT END', 'STARTED', 'LAST SEEN']];
  for (const n of nodes) {
    rows.push([
      n.node,
      n.alive ? 'alive' : 'gone',
      n.url,
      n.started.slice(0, 19).replace('T', ' '),
      n.lastSeen.slice(0, 19).replace('T', ' '),
    ]);
  }
  return `${formatTable(rows)}\n`;
}
