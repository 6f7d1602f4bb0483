import { connect, type Socket } from 'node:net';
import type { Expiry } from '../shared/expiry.js';
import { encodeFrameParts, FrameDecoder } from '../shared/frame-codec.js';
import { FrameWriter } from '../shared/frame-writer.js';
import {
  type CancelFrame,
  maxChannelHeaderBytes,
  type PackedLines,
  type RequestFrame,
  type ResponseFrame,
} from '../shared/request-channel.js';

export interface ChannelResponse {
  status: number;
  headers: string[];
  body: Buffer;
  lines: PackedLines | undefined;
  /** Some lines of the request went over IPC; the others are in `lines`. */
  linesOverIpc: boolean;
  /** Set when the body was over the limit: its size, or -1 (a stream, cut at the limit). */
  tooLarge: number | undefined;
  /** A CGI script's local redirect (ResponseFrame.localRedirect). */
  localRedirect?: string | undefined;
}

/**
 * A response payload's body and the lines behind it. A length the payload cannot hold leaves
 * the payload as the body, and comes back as lines the request log cannot read, so it is
 * logged as such instead of being dropped silently.
 */
function splitPayload(
  payload: Buffer,
  linesBytes: unknown,
): { body: Buffer; lines: PackedLines | undefined } {
  if (linesBytes === undefined) return { body: payload, lines: undefined };
  if (
    !Number.isInteger(linesBytes) ||
    (linesBytes as number) <= 0 ||
    (linesBytes as number) > payload.length
  ) {
    const said = `the instance said its lines were the last ${String(linesBytes)} bytes of a ${payload.length}-byte payload`;
    return { body: payload, lines: `(${said})` };
  }
  const at = payload.length - (linesBytes as number);
  return { body: payload.subarray(0, at), lines: payload.toString('utf8', at) };
}

/**
 * A failure of the channel itself. `ECONNREFUSED`: the request never left the front end (the
 * instance's socket refused the connection, or closed before the frame was written), so it
 * may be sent elsewhere. `ECONNRESET`: the connection ended after the request was written; the
 * app may have run it (S6: a 500).
 */
export class ChannelError extends Error {
  readonly code: 'ECONNREFUSED' | 'ECONNRESET';

  constructor(code: 'ECONNREFUSED' | 'ECONNRESET', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChannelError';
    this.code = code;
  }
}

interface Waiter {
  resolve(response: ChannelResponse): void;
  reject(err: Error): void;
  /** The frame has been handed to the socket. */
  sent: boolean;
  expiry: Expiry | undefined;
}

/**
 * The front end's end of the request channel to one instance (src/shared/request-channel.ts):
 * one connection, opened on first use and again after it closed, with any number of requests
 * in flight, matched to their responses by id.
 */
export class InstanceChannel {
  readonly #path: string;
  readonly #maxBodyBytes: number;
  #socket: Socket | undefined;
  #writer: FrameWriter | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, Waiter>();
  /** Ids whose frames are queued but not yet handed to the socket. */
  #unsent: number[] = [];

  /**
   * @param path the instance's channel socket
   * @param maxBodyBytes largest body a response frame may carry (the platform's response limit)
   */
  constructor(path: string, maxBodyBytes: number) {
    this.#path = path;
    this.#maxBodyBytes = maxBodyBytes;
  }

  /** Requests in flight on this channel. */
  get inflight(): number {
    return this.#waiting.size;
  }

  /**
   * Sends one request and resolves with its whole response. Rejects with a ChannelError when
   * the connection fails, and with the expiry's reason when `expiry` fires first (the instance
   * is told to abort the request's `ctx.signal`).
   */
  request(
    frame: Omit<RequestFrame, 'id'>,
    body: Buffer | readonly Buffer[],
    expiry?: Expiry,
  ): Promise<ChannelResponse> {
    const id = this.#nextId++;
    const head: RequestFrame = { id, ...frame };
    return new Promise<ChannelResponse>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, sent: false, expiry };
      expiry?.listen((reason) => {
        this.#waiting.delete(id);
        if (waiter.sent) this.#writer?.write(encodeFrameParts({ id, cancel: true } satisfies CancelFrame));
        reject(reason);
      });
      this.#waiting.set(id, waiter);
      this.#unsent.push(id);
      this.#connection().write(encodeFrameParts(head, body));
    });
  }

  /** Closes the connection; requests in flight fail as if the instance had gone. */
  close(): void {
    this.#socket?.destroy();
  }

  #connection(): FrameWriter {
    if (this.#writer) return this.#writer;
    const socket = connect(this.#path);
    const writer = new FrameWriter(socket, { held: true });
    writer.onFlushed = () => {
      for (const id of this.#unsent) {
        const waiter = this.#waiting.get(id);
        if (waiter) waiter.sent = true;
      }
      this.#unsent = [];
    };
    const decoder = new FrameDecoder<ResponseFrame>({
      maxHeaderBytes: maxChannelHeaderBytes,
      maxPayloadBytes: this.#maxBodyBytes,
    });
    socket.setNoDelay(true);
    socket.once('connect', () => writer.release());
    socket.on('data', (chunk: Buffer) => {
      let frames: ReturnType<typeof decoder.push>;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const { header, payload } of frames) this.#settle(header, payload);
    });
    socket.on('error', () => {});
    socket.once('close', () => this.#closed(socket));
    this.#socket = socket;
    this.#writer = writer;
    return writer;
  }

  #settle(header: ResponseFrame, payload: Buffer): void {
    const waiter = this.#waiting.get(header.id);
    // A response to a request the front end gave up on (deadline) is dropped.
    if (!waiter) return;
    this.#waiting.delete(header.id);
    waiter.expiry?.listen(undefined);
    const { body, lines } = splitPayload(payload, header.lines);
    waiter.resolve({
      status: header.status,
      headers: header.headers,
      body,
      lines,
      linesOverIpc: header.linesOverIpc === true,
      tooLarge: header.tooLarge,
      ...(typeof header.localRedirect === 'string' ? { localRedirect: header.localRedirect } : {}),
    });
  }

  #closed(socket: Socket): void {
    if (this.#socket !== socket) return;
    this.#writer?.discard();
    this.#socket = undefined;
    this.#writer = undefined;
    this.#unsent = [];
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const waiter of waiting) {
      waiter.expiry?.listen(undefined);
      waiter.reject(
        waiter.sent
          ? new ChannelError('ECONNRESET', 'the connection to the instance closed before its response')
          : new ChannelError('ECONNREFUSED', 'the request never reached the instance: its socket is closed'),
      );
    }
  }
}
