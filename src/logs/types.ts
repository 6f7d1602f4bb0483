/**
 * The request log's shapes (SPEC S9): what is stored, what a query asks, what it answers.
 */
import type { LogLevel } from '../shared/messages.js';

/** One app log line under its request. */
export interface LogLine {
  /** ISO 8601. */
  time: string;
  level: LogLevel;
  message: string;
}

/** One request's log entry, exactly the object `hangar logs --json` prints. */
export interface LogEntry {
  requestId: string;
  appId: string | null;
  service: string | null;
  version: string | null;
  instanceId: string | null;
  /** ISO 8601. */
  startTime: string;
  latencyMs: number;
  pendingMs: number;
  method: string;
  /** Path and query. */
  resource: string;
  httpVersion: string | null;
  status: number;
  bytesIn: number;
  bytesOut: number;
  userAgent: string | null;
  ip: string | null;
  host: string | null;
  loadingRequest: boolean;
  secure: boolean;
  /** The limit or failure that ended the request, or null. */
  error: string | null;
  /**
   * The traffic split that picked `version`, in `hangar versions split`'s syntax
   * (`cookie:v1=0.7,v2=0.3`); null when no split did (a promoted or a named version).
   */
  split: string | null;
  lines: LogLine[];
}

/** A request's record without its lines, as written by the front end. */
export type RequestLogRecord = Omit<LogEntry, 'lines'>;

/** A request's lines as the stored JSON text (packed-lines.ts), and the highest level among them. */
export interface StoredLines {
  json: string;
  maxLevel: number;
}

/**
 * A record on its way to the store, with the lines that arrived before it was emitted: as
 * `lines`, or as `storedLines` when they came from the instance in the stored form (a store
 * may write that text as it is).
 */
export type RecordWithLines = RequestLogRecord & { lines?: readonly LogLine[]; storedLines?: StoredLines };

/** A line as it is written: with the request it belongs to. */
export interface StoredLine extends LogLine {
  requestId: string;
  /** `time` as epoch ms when the producer has it, so the store need not parse it back. */
  epochMs?: number;
}

/** Filters of `GET /api/logs` and `hangar logs`; all optional, combined with AND. */
export interface LogQuery {
  /** The app (`appId`): several apps share one `serve`, and each reads its own log (S11). */
  app?: string;
  service?: string;
  version?: string;
  requestId?: string;
  /** Requests with at least one line at this level or above. */
  minLevel?: LogLevel;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  status?: number;
  /** Substring of the resource or of a line's message (case-sensitive, like grep). */
  text?: string;
  /** Most entries per page (newest ones); default 100, at most 1000. */
  limit?: number;
  /** Continue before this cursor (from a previous page's `next`). */
  cursor?: string;
}

/** One page of entries, newest last; `next` pages further into the past. */
export interface LogPage {
  entries: LogEntry[];
  /** Cursor for the page of older entries; null when there are none. */
  next: string | null;
}
