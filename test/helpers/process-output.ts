/**
 * Everything a child process prints (stdout and stderr together), and a wait for a pattern in
 * it that ends at a match, at a timeout, or when the process exits first: how the e2e helpers
 * learn what a real `hangar dev` or `hangar serve` has done (its ports, a deploy) without sleeps.
 */
import type { ChildProcess } from 'node:child_process';

export interface ProcessOutput {
  /** All output so far. */
  text(): string;
  /** Resolves with the first match of `pattern` in the output (earlier output included). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** Watches `child`'s stdout and stderr; `name` is what its errors call it (`hangar dev`). */
export function watchOutput(child: ChildProcess, name: string): ProcessOutput {
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpMatchArray>((res, rej) => {
      const check = () => {
        const match = output.match(pattern);
        if (match) {
          cleanup();
          res(match);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        rej(new Error(`timed out waiting for ${pattern} in ${name}'s output:\n${output}`));
      }, timeoutMs);
      const onExit = () => {
        check();
        cleanup();
        rej(new Error(`${name} exited while waiting for ${pattern}; output:\n${output}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      listeners.add(check);
      child.once('exit', onExit);
      check();
    });
  return { text: () => output, waitFor };
}
