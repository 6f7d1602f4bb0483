import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SocketBytes, SocketView } from '../ipc.js';

/** What the registry needs of a TCP or UDP session. */
export interface Session {
  readonly id: string;
  readonly app: string;
  readonly service: string | undefined;
  readonly version: string | undefined;
  readonly sent: number;
  readonly received: number;
  view(now: number): SocketView;
  /** Ends the session at once (platform shutdown). */
  shutdown(): void;
}

/**
 * A descriptor names its socket and carries a secret only the opener learnt; on a platform of
 * several nodes (S16, `--database`) it also names the node whose socket service owns the socket.
 */
export interface DescriptorParts {
  id: string;
  secret: string;
  /** The owner node; undefined for a single node without a database (`hsk1`). */
  node?: string | undefined;
}

const descriptorV1 = /^hsk1\.([0-9a-f]{16})\.([0-9a-f]{32})$/;
const descriptorV2 = /^hsk2\.([a-z0-9][a-z0-9-]{0,62})\.([0-9a-f]{16})\.([0-9a-f]{32})$/;

/**
 * The string `hangar/sockets` hands out for a socket: `hsk1.<id>.<secret>` on a single node,
 * `hsk2.<node>.<id>.<secret>` when the socket service is one node of several (docs/sockets.md
 * "Several nodes"). Apps treat it as opaque.
 */
export function formatDescriptor(parts: DescriptorParts): string {
  return parts.node === undefined
    ? `hsk1.${parts.id}.${parts.secret}`
    : `hsk2.${parts.node}.${parts.id}.${parts.secret}`;
}

/** The parts of either form of descriptor, or undefined when `text` is neither. */
export function parseDescriptor(text: string): DescriptorParts | undefined {
  const v2 = descriptorV2.exec(text);
  if (v2) return { node: v2[1]!, id: v2[2]!, secret: v2[3]! };
  const v1 = descriptorV1.exec(text);
  return v1 ? { id: v1[1]!, secret: v1[2]! } : undefined;
}

/** A new socket's id and secret, naming `node` when the service is one node of several. */
export function newDescriptorParts(node?: string): DescriptorParts {
  return {
    id: randomBytes(8).toString('hex'),
    secret: randomBytes(16).toString('hex'),
    ...(node === undefined ? {} : { node }),
  };
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Why a socket is gone, kept so a later `attach` can say so (EPIPE "reclaimed"). */
export interface Tombstone {
  app: string;
  secret: string;
  message: string;
}

const MAX_TOMBSTONES = 10_000;

/** Told of every socket that opens and every one that ends (the PostgreSQL registry, cluster.ts). */
export interface RegistryObserver {
  opened(session: Session): void;
  closed(session: Session): void;
}

/**
 * Every open socket of the service, the per-app counts `max_open_per_app` needs, the tombstones
 * of closed and reclaimed sockets, and the byte totals metering reads (`bytesByApp`).
 */
export class Registry {
  readonly #sessions = new Map<string, Session>();
  readonly #tombstones = new Map<string, Tombstone>();
  /** Bytes of sessions that have ended, per app/service/version. */
  readonly #closedBytes = new Map<string, SocketBytes>();
  readonly #perApp = new Map<string, number>();
  #observer: RegistryObserver | undefined;

  /** Sets who is told of sockets opening and ending (one observer). */
  observe(observer: RegistryObserver | undefined): void {
    this.#observer = observer;
  }

  get size(): number {
    return this.#sessions.size;
  }

  add(session: Session): void {
    this.#sessions.set(session.id, session);
    this.#perApp.set(session.app, (this.#perApp.get(session.app) ?? 0) + 1);
    this.#observer?.opened(session);
  }

  /** The open sessions. */
  sessions(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** Open sockets of `app`. */
  openFor(app: string): number {
    return this.#perApp.get(app) ?? 0;
  }

  /** Forgets an ended session, folding its bytes into the totals and leaving a tombstone. */
  remove(session: Session, tombstone: Tombstone): void {
    if (this.#sessions.get(session.id) !== session) return;
    this.#sessions.delete(session.id);
    const left = (this.#perApp.get(session.app) ?? 1) - 1;
    if (left > 0) this.#perApp.set(session.app, left);
    else this.#perApp.delete(session.app);
    const totals = this.#totalsFor(this.#closedBytes, session);
    totals.sent += session.sent;
    totals.received += session.received;
    this.#tombstones.set(session.id, tombstone);
    if (this.#tombstones.size > MAX_TOMBSTONES) {
      const oldest = this.#tombstones.keys().next().value;
      if (oldest !== undefined) this.#tombstones.delete(oldest);
    }
    this.#observer?.closed(session);
  }

  tombstone(id: string): Tombstone | undefined {
    return this.#tombstones.get(id);
  }

  list(now = Date.now()): SocketView[] {
    return [...this.#sessions.values()].map((session) => session.view(now));
  }

  /** Socket bytes per app version since the service started, open sockets included. */
  bytesByApp(): SocketBytes[] {
    const totals = new Map<string, SocketBytes>();
    for (const entry of this.#closedBytes.values()) totals.set(key(entry), { ...entry });
    // Sessions add socket bytes only; URL Fetch totals are all in #closedBytes.
    for (const session of this.#sessions.values()) {
      const entry = this.#totalsFor(totals, session);
      entry.sent += session.sent;
      entry.received += session.received;
    }
    return [...totals.values()];
  }

  /**
   * Bytes that moved through an egress proxy tunnel (S4.3): metered like a socket's, with the
   * totals of ended sessions.
   */
  meterTunnel(owner: Pick<Session, 'app' | 'service' | 'version'>, sent: number, received: number): void {
    const totals = this.#totalsFor(this.#closedBytes, owner);
    totals.sent += sent;
    totals.received += received;
  }

  /** One URL Fetch call of `owner` (S13) with its request and response body bytes, for metering (S10). */
  meterUrlFetch(owner: Pick<Session, 'app' | 'service' | 'version'>, bytes: number): void {
    const totals = this.#totalsFor(this.#closedBytes, owner);
    totals.urlfetchCalls += 1;
    totals.urlfetchBytes += bytes;
  }

  /** Ends every session (the service is stopping). */
  shutdown(): void {
    for (const session of [...this.#sessions.values()]) session.shutdown();
  }

  #totalsFor(
    map: Map<string, SocketBytes>,
    session: Pick<Session, 'app' | 'service' | 'version'>,
  ): SocketBytes {
    const entry: SocketBytes = {
      app: session.app,
      service: session.service ?? null,
      version: session.version ?? null,
      sent: 0,
      received: 0,
      urlfetchCalls: 0,
      urlfetchBytes: 0,
    };
    const existing = map.get(key(entry));
    if (existing) return existing;
    map.set(key(entry), entry);
    return entry;
  }
}

function key(entry: Pick<SocketBytes, 'app' | 'service' | 'version'>): string {
  return `${entry.app}\0${entry.service ?? ''}\0${entry.version ?? ''}`;
}
