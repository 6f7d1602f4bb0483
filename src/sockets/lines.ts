import type { Socket } from 'node:net';

/** Longest hello or reply line either side accepts; anything longer is a broken peer. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Reads the first newline-terminated line of `socket`, then pauses it and puts back whatever
 * followed, so the caller can hand the rest of the stream on untouched (a data connection's
 * bytes start right after its hello line).
 */
export function readFirstLine(socket: Socket, maxBytes = MAX_LINE_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
    };
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      if (newline === -1) {
        chunks.push(chunk);
        length += chunk.length;
        if (length > maxBytes) {
          cleanup();
          reject(new Error(`first line longer than ${maxBytes} bytes`));
        }
        return;
      }
      cleanup();
      socket.pause();
      chunks.push(chunk.subarray(0, newline));
      const rest = chunk.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('the connection closed before its first line'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

/** Calls `onLine` for every newline-terminated line `socket` delivers from now on. */
export function onLines(socket: Socket, onLine: (line: string) => void, maxBytes = MAX_LINE_BYTES): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      onLine(line);
      newline = pending.indexOf('\n');
    }
    if (pending.length > maxBytes) socket.destroy(new Error(`control line longer than ${maxBytes} bytes`));
  });
  socket.resume();
}

/** Parses a JSON line, or returns undefined (unknown or broken lines are ignored, not fatal). */
export function parseLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
