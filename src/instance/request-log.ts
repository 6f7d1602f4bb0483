import { format } from 'node:util';
import type { RequestLog } from '../index.js';

/**
 * `ctx.log` (SPEC S9). Lines go through the console, so they carry the request's context the
 * same way `console.*` lines do; the structured log path attaches levels to both.
 */
export const requestLog: RequestLog = {
  debug: (...args) => console.debug(...args),
  info: (...args) => console.info(...args),
  warning: (...args) => console.warn(...args),
  error: (...args) => console.error(...args),
  critical: (...args) => console.error('CRITICAL', format(...args)),
  exception: (error, ...args) =>
    console.error(format(...args), error instanceof Error ? (error.stack ?? error.message) : error),
};
