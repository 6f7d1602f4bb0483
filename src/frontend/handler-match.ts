import type { Handler } from '../config/types.js';

export interface HandlerMatch {
  handler: Handler;
  /** Position in `handlers:`; module handlers are named to the instance by it. */
  index: number;
  match: RegExpExecArray;
}

/**
 * SPEC S5 step 3: the first handler, in app.yaml order, whose implicitly anchored `url`
 * regex matches the whole path (without the query string).
 *
 * This runs on the front end's one event loop for every request of every app, with V8's
 * backtracking RegExp (20-90 ns a pattern; the linear-time re2js took 5-30× longer). That is
 * safe because src/config/safe-pattern.ts refuses, when app.yaml is read, every pattern a
 * path could make super-linear (`(a+)+`, `.*-.*x`, backreferences, lookarounds): a hostile
 * path of 16 KiB costs microseconds. See docs/decisions.md "Linear-time url matching".
 */
export function matchHandler(handlers: readonly Handler[], path: string): HandlerMatch | undefined {
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    const match = handler.pattern.exec(path);
    if (match) return { handler, index, match };
  }
  return undefined;
}
