/**
 * A Knative pod's request log (S9, docs/kubernetes.md "The pod"): without the platform database
 * (HANGAR_DATABASE_URL), each request is one JSON line on the pod's stdout, the object `hangar
 * logs --json` prints plus `severity` and `message`, the two fields log collectors (Cloud
 * Logging, Fluent Bit, Loki) read a level and a summary from. With it, entries go to the
 * platform's request log (pod-database.ts), and only those it could not take come here. Nothing
 * here waits: the line is written and forgotten.
 */
import type { LogEntry } from '../logs/types.js';
import { LOG_LEVELS } from '../shared/log-levels.js';

/** A request's entry as a pod writes it: S9's entry, without the split (Knative's route picked the version). */
export type PodLogEntry = Omit<LogEntry, 'split'>;

/** Cloud Logging's severities for S9's levels; a request without lines is INFO, or ERROR for a 5xx. */
const severities = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

/**
 * The JSON line of one request.
 *
 * @example
 * podLogLine(entry) // '{"severity":"INFO","message":"GET / 200 3 ms","requestId":"…",…}\n'
 */
export function podLogLine(entry: PodLogEntry): string {
  let level = entry.status >= 500 ? 3 : 1;
  for (const line of entry.lines) level = Math.max(level, LOG_LEVELS.indexOf(line.level));
  const message = `${entry.method} ${entry.resource} ${entry.status} ${Math.round(entry.latencyMs)} ms${entry.error ? ` (${entry.error})` : ''}`;
  return `${JSON.stringify({ severity: severities[level] ?? 'INFO', message, ...entry })}\n`;
}

/** A line of the pod's own (start, stop, a failure outside requests), in the same JSON shape. */
export function podMessage(severity: 'INFO' | 'WARNING' | 'ERROR', message: string): string {
  return `${JSON.stringify({ severity, message, time: new Date().toISOString() })}\n`;
}
