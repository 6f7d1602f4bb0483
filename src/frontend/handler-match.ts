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
 */
export function matchHandler(handlers: readonly Handler[], path: string): HandlerMatch | undefined {
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    const match = handler.pattern.exec(path);
    if (match) return { handler, index, match };
  }
  return undefined;
}
