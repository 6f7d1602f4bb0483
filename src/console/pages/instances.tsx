/**
 * `#/instances`: every instance with its state, slots, memory against its limit, requests served
 * and start; stop one in two steps (`POST /api/instances/<id>/stop`); below, the scaling
 * decisions with their reasons (S6). Refreshed every 2 s.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ConfirmButton, ErrorBox, TableScroll, UsageBar } from '../components.js';
import { formatBytes, formatMs, formatNumber, formatTime, versionLabel } from '../format.js';
import { usePolling } from '../polling.js';
import type { InstancesDoc, InstanceView } from '../types.js';

function InstanceRow({
  instance,
  stopping,
  onStop,
}: {
  instance: InstanceView;
  stopping: boolean;
  onStop: () => Promise<void>;
}) {
  // The row says 'stopping' from the moment the platform accepted the stop until it lists the instance as stopped.
  const state = stopping && instance.state !== 'stopped' ? 'stopping' : instance.state;
  const stoppable = state !== 'stopping' && state !== 'stopped';
  return (
    <tr data-instance-id={instance.id} data-state={state}>
      <th scope="row" class="mono" title={instance.id}>
        {instance.id.slice(0, 8)}
        {instance.pid != null ? <span class="muted small"> pid {instance.pid}</span> : null}
      </th>
      <td>{versionLabel(instance)}</td>
      <td class="instance-state">
        <span class={`state state-${state}`}>{state}</span>
      </td>
      <td class="num">
        {instance.busySlots}/{instance.slots}
      </td>
      <td>
        <UsageBar
          value={instance.memory}
          max={instance.memoryLimit}
          label={`memory of ${instance.id}`}
          text={`${formatBytes(instance.memory)} / ${formatBytes(instance.memoryLimit)}`}
        />
      </td>
      <td class="num">{formatNumber(instance.requestsServed)}</td>
      <td>
        <time dateTime={instance.started}>{formatTime(instance.started)}</time>
        {instance.readyMs != null ? (
          <span class="muted small"> ready in {formatMs(instance.readyMs)}</span>
        ) : null}
      </td>
      <td>
        <ConfirmButton
          label="Stop"
          confirmLabel="Confirm stop"
          className="stop-instance"
          confirmClassName="confirm-stop"
          subject={`instance ${instance.id}`}
          disabled={!stoppable}
          onConfirm={onStop}
        />
      </td>
    </tr>
  );
}

export function InstancesPage() {
  const { data, error, reload } = usePolling(() => api<InstancesDoc>('GET', '/api/instances'), 2000, []);
  const [stopping, setStopping] = useState<ReadonlySet<string>>(new Set());

  const stop = async (id: string) => {
    await api('POST', `/api/instances/${encodeURIComponent(id)}/stop`);
    setStopping((s) => new Set([...s, id]));
    reload();
  };

  const instances = data?.instances ?? [];
  const decisions = [...(data?.decisions ?? [])].reverse();
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Instances</h1>
      <ErrorBox error={error} prefix="The instances could not be read" />
      <TableScroll label="Instances">
        <table id="instances">
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">App/service/version</th>
              <th scope="col">State</th>
              <th scope="col">Busy/slots</th>
              <th scope="col">Memory</th>
              <th scope="col">Requests</th>
              <th scope="col">Started</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {instances.map((instance) => (
              <InstanceRow
                key={instance.id}
                instance={instance}
                stopping={stopping.has(instance.id)}
                onStop={() => stop(instance.id)}
              />
            ))}
          </tbody>
        </table>
      </TableScroll>
      {data && instances.length === 0 ? (
        <p class="muted">No instances are running (automatic scaling starts them on demand).</p>
      ) : null}
      <h2>Scaling decisions</h2>
      {data && decisions.length === 0 ? <p class="muted">No scaling decisions yet.</p> : null}
      <ul id="decisions" aria-label="Scaling decisions, newest first">
        {decisions.map((d, i) => (
          <li key={i} class="decision" data-action={d.action}>
            <time dateTime={d.at}>{formatTime(d.at)}</time>{' '}
            <span class={`action action-${d.action}`}>{d.action}</span>{' '}
            <span class="mono">{d.instanceId ?? ''}</span>{' '}
            <span class="muted">
              {d.app ? `${d.app}/` : ''}
              {d.service}/{d.version}
            </span>
            <span class="reason">{d.reason}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
