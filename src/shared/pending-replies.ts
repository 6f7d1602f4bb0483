/**
 * Replies awaited by id over a message channel (IPC to a child process, a worker thread's
 * port): the caller sends a message carrying an id, the other side answers with the same id.
 * Written once here because the socket service's supervisor, the request log's thread and the
 * instance pings each kept their own map of waiters, each with its own timer handling.
 */

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** How long to wait for one reply, and what the error says when it does not come. */
export interface ReplyTimeout {
  /** No timeout when left out: the reply comes, or `fail`/`failAll` ends the wait. */
  timeoutMs?: number;
  /** The message of the error a timed-out wait rejects with. */
  timeoutMessage?: string;
}

/**
 * Waiters for replies by id, each with an optional timeout. Ids are increasing integers from 1,
 * never reused, so a late reply to a timed-out request cannot settle a newer one.
 *
 * @example
 * const replies = new PendingReplies<SocketView[]>();
 * child.onMessage((m) => { if (m.type === 'list') replies.settle(m.id, m.sockets); });
 * child.onExit(() => replies.failAll(new Error('the service exited')));
 * const sockets = await replies.request((id) => child.send({ type: 'list', id }), { timeoutMs: 5_000 });
 */
export class PendingReplies<T> {
  #nextId = 1;
  readonly #waiting = new Map<number, Waiter<T>>();

  /** Replies still awaited. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Takes the next id and returns it with the promise of its reply; send the id yourself.
   * The promise rejects on timeout, `fail` or `failAll`: attach a handler before yielding.
   *
   * @example
   * const { id, promise } = replies.expect({ timeoutMs: 1_000, timeoutMessage: 'no pong within 1 s' });
   * worker.postMessage({ type: 'ping', id });
   * await promise;
   */
  expect(options: ReplyTimeout = {}): { id: number; promise: Promise<T> } {
    const id = this.#nextId++;
    const promise = new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, timer: undefined };
      const { timeoutMs } = options;
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#waiting.delete(id);
          reject(new Error(options.timeoutMessage ?? `no reply to ${id} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#waiting.set(id, waiter);
    });
    return { id, promise };
  }

  /**
   * `expect`, then `send(id)`; if `send` throws, the wait ends with that error.
   *
   * @example
   * const page = await replies.request((id) => worker.postMessage({ type: 'query', id, query }));
   */
  request(send: (id: number) => void, options: ReplyTimeout = {}): Promise<T> {
    const { id, promise } = this.expect(options);
    try {
      send(id);
    } catch (err) {
      this.fail(id, err instanceof Error ? err : new Error(String(err)));
    }
    return promise;
  }

  /**
   * Resolves the wait for `id`; false (and nothing else) for an id that is not awaited, e.g.
   * one that timed out already.
   *
   * @example
   * replies.settle(message.id, message.value);
   */
  settle(id: number, value: T): boolean {
    const waiter = this.#take(id);
    waiter?.resolve(value);
    return waiter !== undefined;
  }

  /**
   * Rejects the wait for `id` with `err`; false for an id that is not awaited.
   *
   * @example
   * replies.fail(message.id, new Error(message.message));
   */
  fail(id: number, err: Error): boolean {
    const waiter = this.#take(id);
    waiter?.reject(err);
    return waiter !== undefined;
  }

  /**
   * Rejects every wait with `err`: the other side is gone and will answer none of them.
   *
   * @example
   * worker.on('exit', (code) => replies.failAll(new Error(`the worker exited (code ${code})`)));
   */
  failAll(err: Error): void {
    const waiters = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }

  #take(id: number): Waiter<T> | undefined {
    const waiter = this.#waiting.get(id);
    if (!waiter) return undefined;
    this.#waiting.delete(id);
    clearTimeout(waiter.timer);
    return waiter;
  }
}
