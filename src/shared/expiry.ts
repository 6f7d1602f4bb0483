/**
 * The moment the front end gives up on one request (its deadline and grace passed): fired at
 * most once, heard by at most one listener. An AbortController per request with an 'abort'
 * listener added and removed did the same job, but on Node 20 each such listener kept about a
 * kilobyte per request alive through young-generation GCs until the next full one: the front
 * end's scavenges promoted ~1 MB each and cost ~3 µs per request (docs/decisions.md,
 * "Per-request objects without own accessors or listeners").
 */
export class Expiry {
  #reason: Error | undefined;
  #listener: ((reason: Error) => void) | undefined;

  /** It has fired. */
  get expired(): boolean {
    return this.#reason !== undefined;
  }

  /** What it fired with; undefined until it has. */
  get reason(): Error | undefined {
    return this.#reason;
  }

  /**
   * Calls `listener` once it fires (at once if it has); replaces an earlier listener, and
   * `undefined` removes it.
   */
  listen(listener: ((reason: Error) => void) | undefined): void {
    if (listener && this.#reason) {
      this.#listener = undefined;
      listener(this.#reason);
      return;
    }
    this.#listener = listener;
  }

  /** Fires with `reason`; later calls do nothing. */
  fire(reason: Error): void {
    if (this.#reason) return;
    this.#reason = reason;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.(reason);
  }

  /** An AbortSignal that aborts when this fires, for APIs that take one (undici). */
  signal(): AbortSignal {
    const controller = new AbortController();
    this.listen((reason) => controller.abort(reason));
    return controller.signal;
  }
}
