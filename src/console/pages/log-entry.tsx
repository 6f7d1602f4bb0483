/**
 * One request of the request log (S9): a fixed-height summary row (time, method, resource,
 * status, latency, version, split), a toggle that expands its app lines with their levels and
 * the request's details, and a permalink `#/logs/<request id>`.
 */
import { useState } from 'preact/hooks';
import { formatBytes, formatMs, formatTime } from '../format.js';
import { href } from '../router.js';
import type { LogEntry } from '../types.js';

const statusClass = (status: number) =>
  status >= 500 ? 'status-5xx' : status >= 400 ? 'status-4xx' : status >= 300 ? 'status-3xx' : 'status-2xx';

function Details({ entry }: { entry: LogEntry }) {
  const facts: Array<[string, string]> = [
    ['Request id', entry.requestId],
    ['Instance', entry.instanceId ?? '—'],
    ['Host', entry.host ?? '—'],
    ['Client', entry.ip ?? '—'],
    ['Bytes in / out', `${formatBytes(entry.bytesIn)} / ${formatBytes(entry.bytesOut)}`],
    ['Pending', formatMs(entry.pendingMs)],
    ['HTTP', `${entry.httpVersion ?? '—'}${entry.secure ? ' (HTTPS)' : ''}`],
    ['User agent', entry.userAgent ?? '—'],
  ];
  if (entry.loadingRequest) facts.push(['Loading request', 'yes']);
  if (entry.error) facts.push(['Error', entry.error]);
  return (
    <dl class="log-details">
      {facts.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function LogEntryRow({ entry, initiallyOpen = false }: { entry: LogEntry; initiallyOpen?: boolean }) {
  const [open, setOpen] = useState(initiallyOpen);
  const linesId = `lines-${entry.requestId}`;
  const version = entry.version ? `${entry.appId ?? '?'}/${entry.service ?? '?'}/${entry.version}` : '—';
  return (
    <li class={`log-entry${open ? ' open' : ''}`} data-request-id={entry.requestId}>
      <div class="log-summary">
        <button
          type="button"
          class="log-toggle"
          aria-expanded={open ? 'true' : 'false'}
          aria-controls={linesId}
          aria-label={`${open ? 'Hide' : 'Show'} the ${entry.lines.length} lines of ${entry.method} ${entry.resource}`}
          onClick={() => setOpen(!open)}
        >
          <span aria-hidden="true">{open ? '▾' : '▸'}</span>
          <span class="line-count">{entry.lines.length}</span>
        </button>
        <time class="log-time" dateTime={entry.startTime}>
          {formatTime(entry.startTime)}
        </time>
        <span class="log-method">{entry.method}</span>
        <span class="log-resource" title={entry.resource}>
          {entry.resource}
        </span>
        <span class={`log-status ${statusClass(entry.status)}`}>{entry.status}</span>
        <span class="log-latency">{formatMs(entry.latencyMs)}</span>
        <span class="log-version" title={version}>
          {version}
        </span>
        {entry.split ? (
          <span class="log-split" title={`split ${entry.split}`}>
            {entry.split}
          </span>
        ) : (
          <span class="log-split" />
        )}
        <a
          class="permalink"
          href={href('logs', entry.requestId)}
          aria-label={`Link to request ${entry.requestId}`}
        >
          #
        </a>
      </div>
      {open ? (
        <div class="log-body">
          {entry.lines.length === 0 ? <p class="muted">This request logged no lines.</p> : null}
          <ul class="log-lines" id={linesId}>
            {entry.lines.map((line, i) => (
              <li key={i} class="log-line" data-level={line.level}>
                <time dateTime={line.time}>{formatTime(line.time)}</time>
                <span class={`level level-${line.level}`}>{line.level}</span>
                <span class="message">{line.message}</span>
              </li>
            ))}
          </ul>
          <Details entry={entry} />
        </div>
      ) : null}
    </li>
  );
}
