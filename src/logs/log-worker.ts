/**
 * The request log's worker thread (started by request-log-thread.ts): the whole request log
 * of request-logs.ts — assembling entries, the dev terminal's request lines, the batched
 * writer and the store on its own connection (SQLite) or pool (PostgreSQL) — runs here, beside
 * the front end's event loop instead of inside it. The platform thread only hands over records
 * and lines, one message per event-loop turn. With a request journal (request-journal.ts), the
 * journals of platform processes that died are recovered into the store first, before any
 * message (a query among them) is handled, and each commit of journaled records is reported back.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { paint } from '../shared/logger.js';
import { LogStreams } from './log-streams.js';
import { openLogStore } from './open-store.js';
import { parseHead, recoverJournals } from './request-journal.js';
import { formatAppLine, formatRequestEntry } from './request-line.js';
import type { LogThreadData, ToLogThread } from './request-log-thread.js';
import { createRequestLogs, toStoredRecord } from './request-logs.js';
import { TerminalWriter } from './terminal-writer.js';
import type { LogLine, RequestLogRecord } from './types.js';

const port = parentPort!;
const { store: location, retention, terminal, journal } = workerData as LogThreadData;

/** The dev terminal's request lines: one write per turn, none lost to a reader that is behind. */
const terminalWriter = terminal ? new TerminalWriter({ fd: terminal.fd }) : undefined;
const print = (text: string) => terminalWriter?.write(text);

const color = terminal?.color ?? false;
/** Stack traces show the app's own frames, unless `hangar dev --full-traces` (stack-trim.ts). */
const trim = terminal?.fullTraces ? undefined : 'hangar dev --full-traces shows them';
// Messages wait in the port until the listener below is added, so none is lost while this waits.
const opened = await openLogStore(location);
const logs = createRequestLogs({
  store: opened.store,
  retention,
  // Only with a terminal (dev): under serve nothing is printed, so nothing is formatted, and the
  // request log need not make line objects for entries nobody reads (request-logs.ts).
  ...(terminalWriter
    ? {
        onEntry: (record: RequestLogRecord, lines: LogLine[]) =>
          print(formatRequestEntry(record, lines, color, trim)),
        onLateLine: (requestId: string, line: LogLine) =>
          print(
            `${formatAppLine(line, color, '  ', trim)} ${paint(color, 'gray', `(request ${requestId})`)}`,
          ),
        onInstanceLine: (instanceId: string, line: LogLine) =>
          print(
            `${paint(color, 'gray', `[instance ${instanceId.slice(0, 8)}]`)}${formatAppLine(line, color, ' ', trim)}`,
          ),
      }
    : {}),
  onError: (err) => port.postMessage({ type: 'error', message: err.message }),
  ...(journal
    ? { onCommitted: (generations: number[]) => port.postMessage({ type: 'committed', generations }) }
    : {}),
});

if (journal) {
  // Messages wait in the port until the listener below is added: a query sees what is recovered.
  try {
    const recovery = await recoverJournals(journal.dir, journal.self, {
      storedIds: opened.storedIds,
      append: (records) => opened.store.append(records.map(toStoredRecord), []),
    });
    if (recovery) port.postMessage({ type: 'recovered', recovery });
  } catch (err) {
    port.postMessage({
      type: 'error',
      message: `cannot recover the request journals in ${journal.dir}: ${(err as Error).message}; they are kept for the next start`,
    });
  }
}

// The live tails (log-streams.ts): subscribed to the log while at least one is open.
const streams = new LogStreams((id, text) => port.postMessage({ type: 'streamed', id, text }));
let unsubscribe: (() => void) | undefined;

port.on('message', (message: ToLogThread) => {
  switch (message.type) {
    case 'batch':
      for (const event of message.events) {
        if (event[0] === 'journaled') {
          const record = parseHead(event[1], event[2]);
          if (!record) {
            port.postMessage({
              type: 'error',
              message: `a request journal entry was not readable: ${event[1]}`,
            });
            continue;
          }
          record.journalGeneration = event[3];
          record.latencyMs = event[4];
          record.status = event[5];
          record.bytesIn = event[6];
          record.bytesOut = event[7];
          record.error = event[8];
          logs.request(record);
        } else if (event[0] === 'request') logs.request(event[1]);
        else logs.lines(event[1], event[2]);
      }
      return;
    case 'query':
      logs.query(message.query).then(
        (value) => port.postMessage({ type: 'reply', id: message.id, ok: true, value }),
        (err: Error) => port.postMessage({ type: 'reply', id: message.id, ok: false, message: err.message }),
      );
      return;
    case 'stream':
      streams.add(message.id, message.query, message.maxPerSecond);
      unsubscribe ??= logs.subscribe((entry) => streams.entry(entry));
      return;
    case 'unstream':
      streams.remove(message.id);
      if (streams.size === 0) {
        unsubscribe?.();
        unsubscribe = undefined;
      }
      return;
    case 'close':
      // Answered whatever happens: the platform waits for this answer to stop the worker.
      void logs
        .close()
        .catch(() => undefined)
        .then(() => {
          terminalWriter?.close();
          return opened.close();
        })
        .catch(() => undefined)
        .then(() => port.postMessage({ type: 'reply', id: message.id, ok: true, value: undefined }));
      return;
  }
});
