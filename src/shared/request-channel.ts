/**
 * The request channel between the front end and an instance (SPEC S5 step 5, S6): one Unix
 * socket connection per instance carrying many requests at once as frames of
 * src/shared/frame-codec.ts. A request frame holds the buffered request and what the front end
 * knows about it; the response frame holds the whole response and the app lines the request
 * wrote (S9), so a request costs one write each way, however many lines it logs. Frames of
 * one event-loop turn leave in one write.
 *
 * Both ends are this codebase at the same version, started together, so headers are checked
 * by shape on the hot path rather than by a zod schema (docs/decisions.md).
 */
/** Front end → instance: one request, its body the frame's payload. */
export interface RequestFrame {
  /** The request's number on this connection; the response carries it back. */
  id: number;
  method: string;
  url: string;
  httpVersion: string;
  /** Name, value, name, value, ... as the client sent them, hop-by-hop headers removed. */
  headers: string[];
  /** Index of the module handler among the instance's modules. */
  handler: number;
  requestId: string;
  remoteAddr: string;
  https: boolean;
  /** Epoch ms of the request's deadline (S6); absent: none. */
  deadline?: number;
  /**
   * The body is in this file (the front end's body spool, src/frontend/body-spool.ts), not in
   * the frame's payload: the instance reads it when the frame arrives. The front end removes the
   * file once the request is over.
   */
  bodyFile?: string;
  /** The spooled body's length in bytes (with `bodyFile`). */
  bodyLength?: number;
}

/** Front end → instance: the front end gave up on request `id` (deadline and grace passed). */
export interface CancelFrame {
  id: number;
  cancel: true;
}

/**
 * App lines written while their request was open, as the JSON text the request log stores
 * (src/logs/packed-lines.ts): `[[epoch ms, level index in LOG_LEVELS, message, ...], ...]`, one
 * run per stretch of lines of one millisecond and level. The
 * instance writes them in this form and the front end passes the text on unread, so lines cost
 * the platform's event loop nothing per line (docs/decisions.md, "Lines as the store's JSON").
 */
export type PackedLines = string;

/**
 * Instance → front end: the whole response to request `id`. The frame's payload is the body,
 * then the request's lines (PackedLines, UTF-8) when it wrote any: behind the body rather than
 * in the JSON header, so that neither end escapes or unescapes the text.
 */
export interface ResponseFrame {
  id: number;
  status: number;
  /** Name, value, ... (lower-case names; several `set-cookie` entries stay separate). */
  headers: string[];
  /** Bytes at the end of the payload that are the lines the request wrote before its response (S9); absent: none. */
  lines?: number;
  /** Some of the request's lines went over IPC instead (it logged a great deal): they come first. */
  linesOverIpc?: true;
  /**
   * A CGI script's local redirect (S4.2, RFC 3875 §6.2.2): the front end answers with what a GET
   * of this path and query would get, instead of with this frame (whose status it ignores).
   */
  localRedirect?: string;
  /**
   * The body had more than the instance's `maxResponseBytes`: the payload is empty and this is
   * the body's size, or -1 for a stream the instance stopped reading at the limit.
   */
  tooLarge?: number;
}

/** A request or response frame's header may carry this much (headers are capped at 60 KiB by S15). */
export const maxChannelHeaderBytes = 1024 * 1024 * 4;

/** The instance's socket for the request channel, next to its HTTP socket for Node handlers. */
export function channelSocketPath(httpSocketPath: string): string {
  return httpSocketPath.replace(/\.sock$/, '.ch.sock');
}

/** The Unix socket of an instance's inspector relay (`hangar dev --inspect`), beside its HTTP socket. */
export function inspectorSocketPath(httpSocketPath: string): string {
  return httpSocketPath.replace(/\.sock$/, '.in.sock');
}
