import type { Scaling } from '../config/types.js';

/** One instance as the autoscaler sees it. */
export interface InstanceLoad {
  id: string;
  state: 'starting' | 'ready';
  inflight: number;
  /** When it last became idle (no request in flight); undefined while busy or starting. */
  idleSince?: number;
}

/** Everything one scaling decision depends on; `decide` is pure over it. */
export interface PoolSnapshot {
  now: number;
  scaling: Scaling;
  /** Concurrent requests one instance takes (1 when threadsafe: false). */
  slotsPerInstance: number;
  /** Starting and ready instances; draining ones no longer count. */
  instances: InstanceLoad[];
  pendingCount: number;
  /** Arrival of the oldest pending request, if any. */
  oldestPendingSince?: number;
  /** Automatic scaling: how long an instance above the idle limits may idle. */
  idlePeriodMs: number;
  /** No starts before this (back-off after failed starts). */
  startBlockedUntil?: number;
}

export type ScalingAction =
  | { kind: 'start'; reason: string }
  | { kind: 'stop'; instanceId: string; reason: string };

/**
 * The autoscaler (SPEC S6): which instances to start and stop now, each with the reason that
 * is logged and shown by `hangar instances list`.
 */
export function decide(s: PoolSnapshot): ScalingAction[] {
  switch (s.scaling.kind) {
    case 'automatic':
      return decideAutomatic(s, s.scaling);
    case 'basic':
      return decideBasic(s, s.scaling);
    case 'manual':
      return decideManual(s, s.scaling);
  }
}

function counts(s: PoolSnapshot) {
  let starting = 0;
  let ready = 0;
  let busy = 0;
  let idleReady = 0;
  for (const i of s.instances) {
    if (i.state === 'starting') starting++;
    else {
      ready++;
      busy += i.inflight;
      if (i.inflight === 0) idleReady++;
    }
  }
  return { starting, ready, busy, idleReady, live: starting + ready };
}

function canStart(s: PoolSnapshot): boolean {
  return s.startBlockedUntil === undefined || s.now >= s.startBlockedUntil;
}

/** Instances needed for the pending queue beyond those already starting. */
function shortfall(s: PoolSnapshot, starting: number): number {
  return Math.ceil(s.pendingCount / s.slotsPerInstance) - starting;
}

function decideAutomatic(s: PoolSnapshot, a: Extract<Scaling, { kind: 'automatic' }>): ScalingAction[] {
  const c = counts(s);
  const actions: ScalingAction[] = [];
  let room = a.maxInstances - c.live;
  const start = (reason: string) => {
    if (room <= 0) return false;
    room--;
    actions.push({ kind: 'start', reason });
    return true;
  };
  if (canStart(s)) {
    for (let n = c.live; n < a.minInstances; n++) start(`min_instances ${a.minInstances}: ${n} running`);
    for (let idle = c.idleReady + c.starting; idle < a.minIdleInstances; idle++) {
      if (!start(`min_idle_instances ${a.minIdleInstances}: ${idle} idle`)) break;
    }
    const capacity = c.ready * s.slotsPerInstance;
    const waited = s.oldestPendingSince === undefined ? 0 : s.now - s.oldestPendingSince;
    if (s.pendingCount > 0 && c.live === 0) {
      start('a request is pending and no instance is running');
    } else if (s.pendingCount > 0 && waited > a.minPendingLatencyMs && shortfall(s, c.starting) > 0) {
      const reason = `${s.pendingCount} pending, oldest ${Math.round(waited)} ms > min_pending_latency ${a.minPendingLatencyMs} ms`;
      for (let n = shortfall(s, c.starting); n > 0 && start(reason); n--);
    } else if (c.starting === 0 && capacity > 0 && c.busy / capacity > a.targetThroughputUtilization) {
      start(`${c.busy}/${capacity} slots busy > ${a.targetThroughputUtilization}`);
    }
  }
  if (actions.length === 0 && s.pendingCount === 0) {
    actions.push(
      ...stopIdle(
        s,
        c.live,
        a.minInstances,
        a.maxIdleInstances,
        s.idlePeriodMs,
        (idleFor, idleCount) =>
          `idle for ${formatMs(idleFor)}; ${idleCount} idle > max_idle_instances ${a.maxIdleInstances}`,
      ),
    );
  }
  return actions;
}

function decideBasic(s: PoolSnapshot, b: Extract<Scaling, { kind: 'basic' }>): ScalingAction[] {
  const c = counts(s);
  const actions: ScalingAction[] = [];
  if (canStart(s) && s.pendingCount > 0) {
    const reason =
      c.live === 0
        ? 'a request is pending and no instance is running'
        : `${s.pendingCount} pending, no free slot`;
    for (let n = Math.min(shortfall(s, c.starting), b.maxInstances - c.live); n > 0; n--) {
      actions.push({ kind: 'start', reason });
    }
  }
  if (s.pendingCount === 0) {
    actions.push(
      ...stopIdle(
        s,
        c.live,
        0,
        0,
        b.idleTimeoutMs,
        (idleFor) =>
          `idle for ${formatMs(idleFor)} ≥ basic_scaling idle_timeout ${formatMs(b.idleTimeoutMs)}`,
      ),
    );
  }
  return actions;
}

function decideManual(s: PoolSnapshot, m: Extract<Scaling, { kind: 'manual' }>): ScalingAction[] {
  const { live } = counts(s);
  if (!canStart(s)) return [];
  const actions: ScalingAction[] = [];
  for (let n = live; n < m.instances; n++) {
    actions.push({ kind: 'start', reason: `manual_scaling instances ${m.instances}: ${n} running` });
  }
  return actions;
}

/**
 * Idle instances beyond `keepIdle` that have idled at least `periodMs`, longest idle first,
 * never taking the live count below `minLive`.
 */
function stopIdle(
  s: PoolSnapshot,
  live: number,
  minLive: number,
  keepIdle: number,
  periodMs: number,
  why: (idleFor: number, idleCount: number) => string,
): ScalingAction[] {
  const idle = s.instances
    .filter(
      (i): i is InstanceLoad & { idleSince: number } => i.state === 'ready' && i.idleSince !== undefined,
    )
    .sort((x, y) => x.idleSince - y.idleSince);
  const actions: ScalingAction[] = [];
  const stoppable = Math.min(idle.length - keepIdle, live - minLive);
  for (const instance of idle) {
    const idleFor = s.now - instance.idleSince;
    // Sorted longest idle first: once one has not idled long enough, none after it has.
    if (actions.length >= stoppable || idleFor < periodMs) break;
    actions.push({ kind: 'stop', instanceId: instance.id, reason: why(idleFor, idle.length) });
  }
  return actions;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${Math.round(ms)} ms`;
}
