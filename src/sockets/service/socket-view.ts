import type { SocketView } from '../ipc.js';
import type { IdleClock } from './idle.js';

/** What every session (TCP or UDP) knows about itself for `hangar sockets list`. */
export interface SessionFacts {
  id: string;
  app: string;
  service?: string;
  version?: string;
  request?: string;
  sent: number;
  received: number;
  openedAt: number;
  idle: IdleClock;
}

/** A session's row in the socket list: the facts all sessions share, plus its own. */
export function socketView(
  facts: SessionFacts,
  own: Pick<SocketView, 'protocol' | 'destination' | 'remote' | 'instance' | 'state'>,
  now: number,
): SocketView {
  return {
    id: facts.id,
    app: facts.app,
    service: facts.service ?? null,
    version: facts.version ?? null,
    ...own,
    request: facts.request ?? null,
    bytesSent: facts.sent,
    bytesReceived: facts.received,
    openedAt: new Date(facts.openedAt).toISOString(),
    ageMs: now - facts.openedAt,
    idleMs: facts.idle.idle(now),
    reclaimInMs: facts.idle.remaining(now),
  };
}
