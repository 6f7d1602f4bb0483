/**
 * Stack traces as an app's developer wants them: the app's own frames. The frames of Hangar
 * itself (how an instance calls a handler), of Node's internals and of packages under
 * `node_modules/` say nothing about the app's bug and push its own frames off the screen. The
 * stored log keeps every frame; this trims only what the dev terminal, the dev error page and
 * `hangar logs` show (each has a flag for the full trace).
 */
import { fileURLToPath } from 'node:url';

/** Hangar's package folder (this file is its src/shared or dist/shared), with a trailing slash. */
const hangarRoot = fileURLToPath(new URL('../../', import.meta.url));
const hangarDirs = [`${hangarRoot}dist/`, `${hangarRoot}src/`];

const frameLine = /^\s+at /;

/** Whether a frame line (`    at fn (file:line:col)`) is not the app's own code. */
function notTheApps(frame: string): boolean {
  if (frame.includes('(node:') || /^\s+at node:/.test(frame)) return true;
  if (frame.includes('<anonymous>') || frame.includes('(native)')) return true;
  if (frame.includes('/node_modules/')) return true;
  const path = frame.replace('file://', '');
  return hangarDirs.some((dir) => path.includes(dir));
}

/**
 * `text` with the frames that are not the app's dropped from each stack trace in it, and one
 * line saying how many were. A trace with none of the app's frames keeps its first frame in a
 * package (node_modules), so the error still has a place. Text without a trace comes back as
 * it is (the same string).
 *
 * @example
 * trimStack('Error: boom\n    at inner (/app/main.ts:1:43)\n    at callFetch (/opt/hangar/dist/instance/fetch-run.js:21:36)')
 * // 'Error: boom\n    at inner (/app/main.ts:1:43)\n    (1 frame of Hangar, Node and node_modules hidden)'
 */
export function trimStack(text: string, hint = ''): string {
  if (!text.includes('\n') || !/\n\s+at /.test(text)) return text;
  const out: string[] = [];
  let hidden = 0;
  let keptInTrace = 0;
  let firstHidden: string | undefined;
  const closeTrace = () => {
    if (hidden === 0) return;
    if (keptInTrace === 0 && firstHidden !== undefined) {
      out.push(firstHidden);
      hidden--;
    }
    if (hidden > 0)
      out.push(
        `    (${hidden} frame${hidden === 1 ? '' : 's'} of Hangar, Node and node_modules hidden${hint ? `; ${hint}` : ''})`,
      );
  };
  for (const line of text.split('\n')) {
    if (frameLine.test(line)) {
      if (notTheApps(line)) {
        // A package's frame tells where in it the error arose; Hangar's and Node's do not.
        if (firstHidden === undefined && keptInTrace === 0 && line.includes('/node_modules/'))
          firstHidden = line;
        hidden++;
      } else {
        out.push(line);
        keptInTrace++;
      }
      continue;
    }
    // A line that is no frame ends the trace (the next error of a `cause` chain, or other text).
    closeTrace();
    hidden = 0;
    keptInTrace = 0;
    firstHidden = undefined;
    out.push(line);
  }
  closeTrace();
  return out.join('\n');
}
