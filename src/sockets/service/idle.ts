/**
 * The idle countdown of one socket (S12: reclaimed after `sockets.idle_timeout` without
 * activity, every operation extends it). Bytes are not stamped one chunk at a time: the clock
 * asks a `probe` (a counter that grows with traffic) whenever it needs to know, and counts a
 * changed value as activity at that moment. Control operations call `touch()`.
 */
export class IdleClock {
  lastActive = Date.now();
  readonly timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #onIdle: () => void;
  readonly #probe: (() => number) | undefined;
  #lastProbe = 0;

  constructor(timeoutMs: number, onIdle: () => void, probe?: () => number) {
    this.timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
    this.#probe = probe;
    this.#lastProbe = probe?.() ?? 0;
    this.#arm(Math.min(timeoutMs, this.#probeInterval()));
  }

  touch(): void {
    this.lastActive = Date.now();
  }

  /** Milliseconds left before the socket is reclaimed. */
  remaining(now = Date.now()): number {
    this.#sample(now);
    return Math.max(0, this.timeoutMs - (now - this.lastActive));
  }

  /** Milliseconds since the last activity. */
  idle(now = Date.now()): number {
    this.#sample(now);
    return now - this.lastActive;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #sample(now: number): void {
    if (!this.#probe) return;
    const value = this.#probe();
    if (value !== this.#lastProbe) {
      this.#lastProbe = value;
      this.lastActive = now;
    }
  }

  /**
   * With a probe, traffic is only seen when the clock looks, so it looks at least every tenth
   * of the timeout: a socket busy moving bytes is never reclaimed as idle.
   */
  #probeInterval(): number {
    return this.#probe ? Math.max(10, Math.floor(this.timeoutMs / 10)) : this.timeoutMs;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const left = this.remaining();
      if (left > 0) this.#arm(Math.min(left, this.#probeInterval()));
      else {
        this.#timer = undefined;
        this.#onIdle();
      }
    }, ms);
    this.#timer.unref();
  }
}
