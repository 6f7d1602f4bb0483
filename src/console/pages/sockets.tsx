/**
 * `#/sockets`: the socket service's open sockets (S12) with their bytes and the time left before
 * an idle one is reclaimed. The list is fetched every 5 s; the countdown ticks every second on
 * the client from the last `reclaimInMs`.
 */
import { api } from '../api.js';
import { ErrorBox, TableScroll } from '../components.js';
import { formatBytes, formatCountdown } from '../format.js';
import { usePolling, useTick } from '../polling.js';
import type { SocketView } from '../types.js';

export function SocketsPage() {
  const { data, error, loadedAt } = usePolling(
    () => api<{ sockets: SocketView[] }>('GET', '/api/sockets'),
    5000,
    [],
  );
  useTick(1000);
  const elapsed = performance.now() - loadedAt;
  const sockets = data?.sockets ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Open sockets</h1>
      <ErrorBox error={error} prefix="The sockets could not be read" />
      <TableScroll label="Open sockets">
        <table id="sockets">
          <thead>
            <tr>
              <th scope="col">Socket</th>
              <th scope="col">App/version</th>
              <th scope="col">Protocol</th>
              <th scope="col">Destination</th>
              <th scope="col">State</th>
              <th scope="col">Sent</th>
              <th scope="col">Received</th>
              <th scope="col">Reclaimed in</th>
            </tr>
          </thead>
          <tbody>
            {sockets.map((s) => {
              const left = Math.max(0, s.reclaimInMs - elapsed);
              return (
                <tr key={s.id} data-socket-id={s.id}>
                  <th scope="row" class="mono">
                    {s.id}
                  </th>
                  <td>
                    {s.app}/{s.service ?? '?'}/{s.version ?? '?'}
                  </td>
                  <td>{s.protocol.toUpperCase()}</td>
                  <td class="mono">
                    {s.destination ?? '—'}
                    {s.remote && s.remote !== s.destination ? (
                      <span class="muted small"> → {s.remote}</span>
                    ) : null}
                  </td>
                  <td>{s.state}</td>
                  <td class="num">{formatBytes(s.bytesSent)}</td>
                  <td class="num">{formatBytes(s.bytesReceived)}</td>
                  <td class="num reclaim-in" data-ms={String(Math.round(left))}>
                    {formatCountdown(left)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableScroll>
      {data && sockets.length === 0 ? <p class="muted">No socket is open.</p> : null}
    </section>
  );
}
