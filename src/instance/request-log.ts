import { format } from 'node:util';
import type { RequestLog } from '../index.js';
import { logLine } from './log-capture.js';

/**
 * `ctx.log` (SPEC S9): each call is one line at its level, under the current request.
 * `exception` logs at error level with the error's stack.
 */
export const requestLog: RequestLog = {
  debug: (...args) => logLine('debug', format(...args)),
  info: (...args) => logLine('info', format(...args)),
  warning: (...args) => logLine('warning', format(...args)),
  error: (...args) => logLine('error', format(...args)),
  critical: (...args) => logLine('critical', format(...args)),
  exception: (error, ...args) => {
    const stack = error instanceof Error ? (error.stack ?? error.message) : format(error);
    logLine('error', args.length > 0 ? `${format(...args)}\n${stack}` : stack);
  },
};
