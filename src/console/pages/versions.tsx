/**
 * `#/versions` (serve only): every version with its traffic share, instances and minor; promote,
 * delete (two steps), and per service a split form with a slider and a number per version
 * (`POST /api/versions/split`); the platform's refusal is shown as it words it. Below, the
 * dispatch rules.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { ConfirmButton, ErrorBox, TableScroll } from '../components.js';
import { formatPercent, formatTime } from '../format.js';
import { usePolling } from '../polling.js';
import type { RoutingDoc, VersionView } from '../types.js';

const SHARD_BY = ['cookie', 'ip', 'random'] as const;

/** One service's versions, for its split form. */
interface ServiceGroup {
  app: string;
  service: string;
  versions: VersionView[];
}

function groupByService(versions: readonly VersionView[]): ServiceGroup[] {
  const groups = new Map<string, ServiceGroup>();
  for (const v of versions) {
    const key = `${v.app}/${v.service}`;
    let group = groups.get(key);
    if (!group) {
      group = { app: v.app, service: v.service, versions: [] };
      groups.set(key, group);
    }
    group.versions.push(v);
  }
  return [...groups.values()];
}

/** A weight as the form shows it: two decimals at most. */
const weightText = (share: number) => String(Math.round(share * 100) / 100);

function SplitForm({
  group,
  shardBy,
  onDone,
}: {
  group: ServiceGroup;
  /** How the service's split buckets requests now (undefined when the platform does not say). */
  shardBy: string | undefined;
  onDone: () => void;
}) {
  const name = `${group.app}/${group.service}`;
  const served = () => Object.fromEntries(group.versions.map((v) => [v.version, weightText(v.traffic)]));
  const [weights, setWeights] = useState<Record<string, string>>(served);
  // The platform's split changed (this form's submit, the CLI, a promote): the form shows it.
  const signature = group.versions.map((v) => `${v.version}=${v.traffic}`).join(',');
  useEffect(() => setWeights(served()), [signature]);
  // `ip` is `hangar versions split`'s default, as gcloud's.
  const [by, setBy] = useState<string>(shardBy ?? 'ip');
  useEffect(() => {
    if (shardBy) setBy(shardBy);
  }, [shardBy]);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);
  const total = Object.values(weights).reduce((sum, w) => sum + (Number(w) || 0), 0);

  const submit = (e: Event) => {
    e.preventDefault();
    const entries = Object.entries(weights).map(
      ([version, w]) => [version, w.trim() === '' ? Number.NaN : Number(w)] as const,
    );
    // gcloud's form: the versions that get traffic; all of them when none does (the platform says why that fails).
    const given = entries.filter(([, w]) => !(w === 0));
    const allocations = Object.fromEntries(given.length > 0 ? given : entries);
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    api('POST', '/api/versions/split', {
      app: group.app,
      service: group.service,
      allocations,
      shardBy: by,
    }).then(
      () => {
        setBusy(false);
        setDone(`Split applied (by ${by}).`);
        onDone();
      },
      (err: Error) => {
        setBusy(false);
        setError(err.message);
      },
    );
  };

  const id = (version: string) => `split-${group.app}-${group.service}-${version}`;
  return (
    <form class="split" data-service={name} onSubmit={submit} aria-label={`Traffic split of ${name}`}>
      <h3>{name}</h3>
      {group.versions.map((v) => (
        <div class="split-row" key={v.version}>
          <label for={id(v.version)}>{v.version}</label>
          <input
            type="range"
            name={`slider-${v.version}`}
            aria-label={`${v.version} weight slider`}
            min="0"
            max="1"
            step="0.01"
            value={Number(weights[v.version]) || 0}
            onInput={(e) => setWeights({ ...weights, [v.version]: e.currentTarget.value })}
          />
          <input
            id={id(v.version)}
            type="number"
            name={`weight-${v.version}`}
            min="0"
            max="1"
            step="0.01"
            inputMode="decimal"
            value={weights[v.version] ?? ''}
            onInput={(e) => setWeights({ ...weights, [v.version]: e.currentTarget.value })}
          />
        </div>
      ))}
      <div class="split-actions">
        <label>
          Split by
          <select name="by" value={by} onChange={(e) => setBy(e.currentTarget.value)}>
            {SHARD_BY.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <span class={Math.abs(total - 1) < 0.005 ? 'muted' : 'warn'}>
          total {Math.round(total * 100) / 100}
        </span>
        <button type="submit" disabled={busy}>
          Apply split
        </button>
      </div>
      {error ? (
        <p class="form-error" role="alert">
          {error}
        </p>
      ) : null}
      {done ? (
        <p class="form-done" role="status">
          {done}
        </p>
      ) : null}
    </form>
  );
}

type Routing = RoutingDoc | null;

/** The dispatch rules of each app that has some (`null`: the platform does not list them). */
function DispatchRules({ routing }: { routing: Routing | undefined }) {
  const apps = routing?.dispatch.filter((d) => d.rules.length > 0) ?? [];
  return (
    <section id="dispatch" aria-labelledby="dispatch-title">
      <h2 id="dispatch-title">Dispatch rules</h2>
      {routing === null ? (
        <p class="muted">
          This platform's admin API does not list dispatch rules; deploy them with{' '}
          <code>hangar deploy dispatch.yaml</code>.
        </p>
      ) : null}
      {routing && apps.length === 0 ? (
        <p class="muted">
          No dispatch rules: each app's default host goes to its <code>default</code> service.
        </p>
      ) : null}
      {apps.map((d) => (
        <TableScroll key={d.app} label={`Dispatch rules of ${d.app}`}>
          <table class="dispatch" data-app={d.app}>
            <caption>{d.app} (first match wins)</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">URL</th>
                <th scope="col">Service</th>
              </tr>
            </thead>
            <tbody>
              {d.rules.map((rule, i) => (
                <tr key={i} data-url={rule.url}>
                  <td class="num">{i + 1}</td>
                  <td class="mono">{rule.url}</td>
                  <td>{rule.service}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      ))}
    </section>
  );
}

export function VersionsPage() {
  const { data, error, reload } = usePolling(
    () =>
      Promise.all([
        api<{ versions: VersionView[] }>('GET', '/api/versions'),
        api<RoutingDoc>('GET', '/api/routing').catch((err: unknown): Routing => {
          // A platform without the endpoint: the page works without splits' `by` and dispatch rules.
          if (err instanceof ApiError && err.status === 404) return null;
          throw err;
        }),
      ]).then(([list, routing]) => ({ versions: list.versions, routing })),
    3000,
    [],
  );
  const [actionError, setActionError] = useState<string>();
  const versions = data?.versions ?? [];
  const groups = useMemo(() => groupByService(versions), [versions]);

  const promote = (v: VersionView) => {
    setActionError(undefined);
    api('POST', '/api/versions/promote', { app: v.app, service: v.service, version: v.version }).then(
      reload,
      (err: Error) => setActionError(`${v.app}/${v.service}/${v.version} was not promoted: ${err.message}`),
    );
  };
  const remove = async (v: VersionView) => {
    await api('DELETE', `/api/versions/${[v.app, v.service, v.version].map(encodeURIComponent).join('/')}`);
    reload();
  };

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Versions and traffic</h1>
      <ErrorBox error={error} prefix="The versions could not be read" />
      <ErrorBox error={actionError} />
      <TableScroll label="Versions">
        <table id="versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Traffic</th>
              <th scope="col">Instances</th>
              <th scope="col">Minor</th>
              <th scope="col">Created</th>
              <th scope="col">Runtime</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => {
              const label = `${v.app}/${v.service}/${v.version}`;
              return (
                <tr key={label} data-version={label}>
                  <th scope="row">
                    <a href={v.url} rel="noreferrer">
                      {label}
                    </a>
                  </th>
                  <td class="num traffic">{formatPercent(v.traffic)}</td>
                  <td class="num">{v.instances}</td>
                  <td class="mono">{v.minor}</td>
                  <td>
                    <time dateTime={v.created}>{formatTime(v.created)}</time>
                  </td>
                  <td>
                    {v.runtime} <span class="muted small">{v.node}</span>
                  </td>
                  <td class="actions">
                    <button
                      type="button"
                      class="promote"
                      disabled={v.traffic === 1}
                      aria-label={`Promote ${label}`}
                      onClick={() => promote(v)}
                    >
                      Promote
                    </button>
                    <ConfirmButton
                      label="Delete"
                      confirmLabel="Confirm delete"
                      className="delete"
                      confirmClassName="confirm-delete"
                      subject={label}
                      onConfirm={() => remove(v)}
                    />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableScroll>
      {data && versions.length === 0 ? (
        <p class="muted">
          Nothing is deployed yet: <code>hangar deploy</code>.
        </p>
      ) : null}
      <h2>Traffic splits</h2>
      <div class="splits">
        {groups.map((group) => (
          <SplitForm
            key={`${group.app}/${group.service}:${group.versions.map((v) => v.version).join(',')}`}
            group={group}
            shardBy={
              data?.routing?.splits.find((s) => s.app === group.app && s.service === group.service)?.shardBy
            }
            onDone={reload}
          />
        ))}
      </div>
      <DispatchRules routing={data?.routing} />
    </section>
  );
}
