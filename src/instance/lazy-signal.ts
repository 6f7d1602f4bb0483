/**
 * A request's abort signal, made only when something asks for it (`ctx.signal`, `sleep()`,
 * platform calls). Most handlers never do, and an AbortController costs more than the rest of
 * the request bookkeeping together on Node 20. An abort before anyone asked is remembered, so a
 * signal made later is born aborted with the same reason.
 */
export class LazySignal {
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}
