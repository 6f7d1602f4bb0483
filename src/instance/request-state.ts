import { LazySignal } from './lazy-signal.js';
import type { HeldLines, RequestContext } from './request-context.js';
import { type RequestFacts, requestEnv } from './request-env.js';

/**
 * One request's context (RequestContext), with its S8 environment made on first use: most
 * handlers never read `process.env` inside a request, and building ~25 variables plus one per
 * header is a good part of an instance's per-request cost.
 */
export class RequestState implements RequestContext {
  readonly requestId: string;
  lines: HeldLines | undefined;
  heldLines = 0;
  heldChars = 0;
  /** Aborted at the deadline, or when the front end gives up on the request. */
  readonly abort = new LazySignal();
  readonly #facts: RequestFacts;
  #env: Record<string, string | undefined> | undefined;

  /** `holdLines`: the request came over the request channel, and its lines leave with its response. */
  constructor(facts: RequestFacts, holdLines = false) {
    this.requestId = facts.requestId;
    this.#facts = facts;
    this.lines = holdLines ? [] : undefined;
  }

  get env(): Record<string, string | undefined> {
    this.#env ??= requestEnv(this.#facts);
    return this.#env;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }
}
