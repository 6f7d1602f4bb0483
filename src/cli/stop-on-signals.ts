import type { Logger } from '../shared/logger.js';

/**
 * How a platform command (`dev`, `serve`) ends: the first SIGINT or SIGTERM says so and closes
 * the platform (its versions drain), then the process exits 0, or 1 with the error. A second
 * signal calls `again` (dev: stop waiting for requests to drain), if given.
 */
export function stopOnSignals(
  close: () => Promise<void>,
  logger: Logger,
  options: { saying: string; again?: () => void },
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.again?.();
      return;
    }
    stopping = true;
    logger.info(`${signal}: ${options.saying}`);
    close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error(String(err));
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
