import { InvalidArgumentError } from 'commander';

/** A TCP port flag: an integer 0–65535 (0 = any free port). Anything else is a usage error. */
export function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65535) {
    throw new InvalidArgumentError(
      `${flag} must be a port number from 0 to 65535 (0 = any free port), not '${value}'`,
    );
  }
  return port;
}
