/**
 * The front end's budget for the bytes it holds on behalf of requests (S5 buffers whole
 * bodies both ways): request bodies while they are read and dispatched, responses until the
 * client has taken them. Without it, slow readers of large responses grow the platform without
 * bound (about 30 MB per reader of a 30 MB answer). Over the budget a request is answered 503
 * with Retry-After instead (`limits.max_buffered_bytes`, docs/security.md).
 */
export class BufferBudget {
  readonly limitBytes: number;
  #used = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes` from the budget if they fit; false (nothing taken) if they do not. A single
   * request larger than the whole budget never fits.
   *
   * @example
   * if (!budget.reserve(length)) throw new HangarError('BUFFER_BUDGET', '...');
   * try { ... } finally { budget.release(length); }
   */
  reserve(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (this.#used + bytes > this.limitBytes) return false;
    this.#used += bytes;
    return true;
  }

  /** Gives back bytes taken with `reserve`. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    this.#used = Math.max(0, this.#used - bytes);
  }
}
