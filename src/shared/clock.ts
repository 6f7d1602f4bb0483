/**
 * Time as the scheduler sees it: now and timers. The platform runs on `systemClock`; tests of
 * time-driven logic (the version pool's pending queue, back-off, idle scale-down, drain) pass
 * a manual clock and move it by hand, so they are fast and exact instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(callback: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
  /** A repeating timer that never keeps the process alive on its own. */
  setInterval(callback: () => void, ms: number): ClockTimer;
  clearInterval(timer: ClockTimer | undefined): void;
}

/** A timer of a `Clock`; only the clock that made it knows what it is. */
export type ClockTimer = { readonly __clockTimer?: never } | NodeJS.Timeout;

/** The real clock: `Date.now` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout | undefined),
};
