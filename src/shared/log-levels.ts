/**
 * The log levels of S9, lowest first; stored and compared by their index. In a module of their
 * own, without zod, because instances use them and do not load zod (docs/decisions.md).
 */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];
