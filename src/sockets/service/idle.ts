/**
 * The idle countdown of one socket (S12: reclaimed after `sockets.idle_timeout` without
 * activity, every operation extends it). Activity only stamps a time, which is cheap enough
 * to do for every chunk; the timer looks at the stamp when it fires and re-arms for the rest.
 */
export class IdleClock {
  lastActive = Date.now();
  readonly timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #onIdle: () => void;

  constructor(timeoutMs: number, onIdle: () => void) {
    this.timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
    this.#arm(timeoutMs);
  }

  touch(): void {
    this.lastActive = Date.now();
  }

  /** Milliseconds left before the socket is reclaimed. */
  remaining(now = Date.now()): number {
    return Math.max(0, this.timeoutMs - (now - this.lastActive));
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const left = this.remaining();
      if (left > 0) this.#arm(left);
      else {
        this.#timer = undefined;
        this.#onIdle();
      }
    }, ms);
    this.#timer.unref();
  }
}
