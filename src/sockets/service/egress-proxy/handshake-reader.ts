import type { Socket } from 'node:net';

import type { Step } from '../../socks5-wire.js';

export type { Step };

/** How one read ended: a message, a message that cannot be served, or a client that went away. */
export type ReadResult<T> =
  | { kind: 'done'; value: T }
  | { kind: 'bad'; code: number; reason: string }
  | { kind: 'closed' };

/**
 * Reads a client's handshake messages off its connection, one parser at a time, and keeps the
 * bytes behind them: a client may send its first payload right behind its request, without
 * waiting for the reply, and `release()` hands those to the tunnel. At most `maxBytes` are held;
 * past that the connection is paused, so a client that talks ahead while the proxy dials
 * cannot fill memory (the kernel's buffers and TCP flow control hold the rest).
 */
export class HandshakeReader {
  readonly #socket: Socket;
  readonly #maxBytes: number;
  #buffer: Buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #ended = false;
  #closed = false;
  #released = false;

  constructor(socket: Socket, maxBytes: number) {
    this.#socket = socket;
    this.#maxBytes = maxBytes;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
  }

  /** The client ended its side (FIN) during the handshake; a tunnel passes that on. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Waits for the next whole message, as `parse` reads it. */
  async read<T>(parse: (buf: Buffer) => Step<T>): Promise<ReadResult<T>> {
    for (;;) {
      if (this.#released) return { kind: 'closed' };
      const step = parse(this.#buffer);
      if (step.kind === 'done') {
        this.#buffer = this.#buffer.subarray(step.size);
        if (this.#buffer.length < this.#maxBytes && !this.#closed) this.#socket.resume();
        return { kind: 'done', value: step.value };
      }
      if (step.kind === 'bad') return step;
      if (this.#ended || this.#closed) return { kind: 'closed' };
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Stops reading (the connection is left paused) and returns the bytes not parsed yet. */
  release(): Buffer {
    this.#released = true;
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onClose);
    this.#socket.pause();
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    this.#signal();
    return rest;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#buffer.length >= this.#maxBytes) this.#socket.pause();
    this.#signal();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#signal();
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#signal();
  };

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
