import type { Socket } from 'node:net';

/** Below this many bytes a batch is joined into one buffer; above it, written as a corked writev. */
const JOIN_LIMIT = 64 * 1024;

/**
 * Batches the frames written to a socket during one event-loop turn into one write: with many
 * requests in flight, one system call carries many frames instead of one each. Flushing waits
 * for setImmediate, i.e. until the I/O callbacks of this turn have all queued their frames.
 */
export class FrameWriter {
  readonly #socket: Socket;
  #parts: Buffer[] = [];
  #bytes = 0;
  #scheduled = false;
  #held = false;
  /** Called after each flush, so the owner knows what has left (and what never did). */
  onFlushed: (() => void) | undefined;

  constructor(socket: Socket, options: { held?: boolean } = {}) {
    this.#socket = socket;
    this.#held = options.held === true;
  }

  /** Queues one frame (its parts from encodeFrameParts). */
  write(parts: readonly Buffer[]): void {
    for (const part of parts) {
      if (part.length === 0) continue;
      this.#parts.push(part);
      this.#bytes += part.length;
    }
    if (!this.#scheduled && !this.#held) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Lets queued frames leave (after a `held` writer's socket connected). */
  release(): void {
    this.#held = false;
    if (this.#parts.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Frames queued but not yet handed to the socket are dropped (the socket is gone). */
  discard(): void {
    this.#parts = [];
    this.#bytes = 0;
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const parts = this.#parts;
    if (parts.length === 0 || this.#held) return;
    const bytes = this.#bytes;
    this.#parts = [];
    this.#bytes = 0;
    const socket = this.#socket;
    if (!socket.destroyed) {
      if (parts.length === 1) socket.write(parts[0]!);
      else if (bytes <= JOIN_LIMIT) socket.write(Buffer.concat(parts, bytes));
      else {
        socket.cork();
        for (const part of parts) socket.write(part);
        socket.uncork();
      }
    }
    this.onFlushed?.();
  };
}
