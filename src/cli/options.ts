import { InvalidArgumentError } from 'commander';

/**
 * Why `value` is not a TCP port (an integer 0–65535, 0 = any free port), or undefined when it
 * is one. `name` is where it came from: a flag (`--port`) or a variable (`HANGAR_PORT`).
 */
export function portProblem(value: string, name: string): string | undefined {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65535) {
    return `${name} must be a port number from 0 to 65535 (0 = any free port), not '${value}'`;
  }
  return undefined;
}

/** A TCP port flag: an integer 0–65535 (0 = any free port). Anything else is a usage error. */
export function parsePort(value: string, flag: string): number {
  const problem = portProblem(value, flag);
  if (problem) throw new InvalidArgumentError(problem);
  return Number(value);
}
