import type { PackedLines } from './request-channel.js';

/** What the front end knows about a finished request; the request log grows from it (S9). */
export interface RequestRecord {
  requestId: string;
  /** Epoch ms of arrival. */
  startTime?: number;
  method: string;
  resource: string;
  httpVersion?: string;
  status: number;
  latencyMs: number;
  app?: string;
  service?: string;
  version?: string;
  instanceId?: string;
  host?: string;
  userAgent?: string;
  /** The client's address as the socket saw it. */
  ip?: string;
  /** Arrived over HTTPS. */
  secure?: boolean;
  /** Bytes read from the client for this request: request line, headers and body as on the wire. */
  bytesIn?: number;
  /** Bytes written to the client: status line, headers and body as on the wire. */
  bytesOut: number;
  /** Time spent in the pending queue waiting for a slot (S9 pendingMs). */
  pendingMs?: number;
  /**
   * The traffic split that picked the version, in `hangar versions split`'s syntax
   * (`cookie:v1=0.7,v2=0.3`, traffic-split.ts); unset when no split chose it (S11).
   */
  split?: string;
  /** The instance's first request (S6, S9 loadingRequest). */
  loadingRequest?: boolean;
  /** The limit or failure that ended the request: `HANGAR_E_...: message`. */
  error?: string;
  /** App lines that came with the response (S9); others reach the request log over IPC. */
  lines?: PackedLines | undefined;
  /**
   * `lines` are all the lines the request wrote while it was open: none are on their way over
   * IPC, so its log entry need not wait for any. Also true when no instance served it.
   */
  linesComplete?: boolean;
}
