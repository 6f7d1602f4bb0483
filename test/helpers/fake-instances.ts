/**
 * Stand-ins for the scheduler's tests: a manual clock, and instances that run no process but
 * behave as the `InstanceHandle` contract says, steered by the test (start or fail, answer,
 * hang, die, stop answering pings). With them `VersionPool` is tested in process, exactly
 * and fast: time moves only when the test moves it.
 */
import {
  type InstanceExit,
  type InstanceFactory,
  type InstanceHandle,
  type InstanceRequest,
  type InstanceResponse,
  type InstanceState,
  type MemoryLevel,
  memoryCapFactor,
} from '../../src/scheduler/instance.js';
import type { Clock, ClockTimer } from '../../src/shared/clock.js';

interface ManualTimer {
  id: number;
  at: number;
  every: number | undefined;
  callback(): void;
}

/** Lets promise callbacks and I/O callbacks queued so far run. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A clock that stands still until `advance()`; timers fire in order of their due time. */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, ManualTimer>();

  constructor(start = Date.UTC(2026, 11, 5, 12)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    return this.#add(callback, ms, undefined);
  }

  setInterval(callback: () => void, ms: number): ClockTimer {
    return this.#add(callback, ms, ms);
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer !== undefined) this.#timers.delete((timer as unknown as { id: number }).id);
  }

  clearInterval(timer: ClockTimer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing each timer due on the way at its own time, and letting
   * the promise work each one starts run before the next fires.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    await settle();
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of this.#timers.values()) {
        if (
          timer.at <= until &&
          (!next || timer.at < next.at || (timer.at === next.at && timer.id < next.id))
        )
          next = timer;
      }
      if (!next) break;
      this.#now = next.at;
      if (next.every === undefined) this.#timers.delete(next.id);
      else next.at += Math.max(1, next.every);
      next.callback();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  #add(callback: () => void, ms: number, every: number | undefined): ClockTimer {
    const timer: ManualTimer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), every, callback };
    this.#timers.set(timer.id, timer);
    return { id: timer.id } as unknown as ClockTimer;
  }
}

/** What a fake instance does with a request: answer, fail, or never answer. */
export type FakeBehaviour = (request: InstanceRequest, instance: FakeInstance) => Promise<InstanceResponse>;

/** A response with `text` as its body. */
export const answer = (text: string, status = 200): InstanceResponse => ({
  status,
  headers: { 'content-type': 'text/plain' },
  body: Buffer.from(text),
  lines: undefined,
  linesComplete: true,
});

/** An error as a transport reports a connection failure (`ECONNREFUSED`: never delivered). */
export const connectionError = (code: 'ECONNREFUSED' | 'ECONNRESET'): Error =>
  Object.assign(new Error(`fake ${code}`), { code });

let counter = 0;

/** An instance that runs nothing: the test decides how it starts, answers, pings and ends. */
export class FakeInstance implements InstanceHandle {
  readonly id: string;
  readonly pid = undefined;
  readonly startedAt: Date;
  state: InstanceState = 'starting';
  readyMs: number | undefined;
  rss = 0;
  killedBecause: string | undefined;
  /** Requests it was sent, in order. */
  readonly received: InstanceRequest[] = [];
  #blockedSince: number | undefined;
  stopCalls = 0;
  /** How it ended, once it did. */
  exit: InstanceExit | undefined;
  #behaviour: FakeBehaviour;
  #startWith: Error | undefined;
  #startGate: Promise<void> | undefined;
  #exitListeners: Array<(exit: InstanceExit) => void> = [];
  #memoryListener: ((level: MemoryLevel) => void) | undefined;
  #memoryLevels = new Set<MemoryLevel>();
  readonly #clock: Clock;

  constructor(
    clock: Clock,
    behaviour: FakeBehaviour,
    options: { failStart?: Error; startGate?: Promise<void> } = {},
  ) {
    this.id = `fake${String(++counter).padStart(8, '0')}`;
    this.#clock = clock;
    this.startedAt = new Date(clock.now());
    this.#behaviour = behaviour;
    this.#startWith = options.failStart;
    this.#startGate = options.startGate;
  }

  async start(): Promise<void> {
    await this.#startGate;
    if (this.#startWith) {
      this.#end({ code: 1, signal: null });
      throw this.#startWith;
    }
    this.state = 'ready';
    this.readyMs = 1;
  }

  send(request: InstanceRequest): Promise<InstanceResponse> {
    this.received.push(request);
    if (this.state === 'stopped') return Promise.reject(connectionError('ECONNREFUSED'));
    const answered = this.#behaviour(request, this);
    const expiry = request.expiry;
    if (!expiry) return answered;
    // As the real transports do: the request's expiry ends the wait for its answer.
    return new Promise((resolve, reject) => {
      expiry.listen(reject);
      answered.then(resolve, reject);
    });
  }

  /** Its event loop answers (heartbeats, pings) while true; false: a blocked loop, from now on. */
  get responsive(): boolean {
    return this.#blockedSince === undefined;
  }

  set responsive(answers: boolean) {
    this.#blockedSince = answers ? undefined : (this.#blockedSince ?? this.#clock.now());
  }

  /** A loop that answers was heard just now; a blocked one last when it blocked. */
  get lastHeardAt(): number | undefined {
    return this.state === 'starting' ? undefined : (this.#blockedSince ?? this.#clock.now());
  }

  ping(): Promise<boolean> {
    return Promise.resolve(this.state !== 'stopped' && this.responsive);
  }

  stop(): Promise<void> {
    this.stopCalls++;
    this.#end({ code: 0, signal: null });
    return Promise.resolve();
  }

  kill(reason?: string): void {
    if (reason !== undefined) this.killedBecause ??= reason;
    this.#end({ code: null, signal: 'SIGKILL' });
  }

  /** The process died on its own (a crash, `process.exit()`). */
  crash(code = 1): void {
    this.#end({ code, signal: null });
  }

  /** Reports resident memory; over `limit`, and over the hard cap above it, the pool is told once each. */
  reportMemory(rss: number, limit: number): void {
    this.rss = rss;
    const levels: Array<[MemoryLevel, number]> = [
      ['limit', limit],
      ['cap', limit * memoryCapFactor],
    ];
    for (const [level, bytes] of levels) {
      if (rss <= bytes || this.#memoryLevels.has(level)) continue;
      this.#memoryLevels.add(level);
      this.#memoryListener?.(level);
    }
  }

  onExit(listener: (exit: InstanceExit) => void): void {
    this.#exitListeners.push(listener);
  }

  onMemoryExceeded(listener: (level: MemoryLevel) => void): void {
    this.#memoryListener = listener;
  }

  #end(exit: InstanceExit): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.exit = exit;
    for (const listener of this.#exitListeners) listener(exit);
  }
}

/** A factory that makes fake instances and keeps them, in creation order, for the test. */
export class FakeFactory implements InstanceFactory {
  readonly made: FakeInstance[] = [];
  readonly slots: number;
  readonly memoryLimitBytes: number;
  /** Behaviour of the instances made from now on. */
  behaviour: FakeBehaviour = async () => answer('ok');
  /** Starts fail with this error while it is set. */
  failStart: Error | undefined;
  /** Starts wait for this promise while it is set. */
  startGate: Promise<void> | undefined;
  readonly #clock: Clock;

  constructor(clock: Clock, options: { slots?: number; memoryLimitBytes?: number } = {}) {
    this.#clock = clock;
    this.slots = options.slots ?? 1;
    this.memoryLimitBytes = options.memoryLimitBytes ?? 384 * 2 ** 20;
  }

  create(): FakeInstance {
    const instance = new FakeInstance(this.#clock, this.behaviour, {
      ...(this.failStart ? { failStart: this.failStart } : {}),
      ...(this.startGate ? { startGate: this.startGate } : {}),
    });
    this.made.push(instance);
    return instance;
  }

  /** Instances made that have not ended. */
  get live(): FakeInstance[] {
    return this.made.filter((instance) => instance.state !== 'stopped');
  }
}

/** A request as the front end would send it; `over` replaces fields. */
export function fakeRequest(over: Partial<InstanceRequest> = {}): InstanceRequest {
  return {
    kind: 'user',
    method: 'GET',
    url: '/',
    httpVersion: '1.1',
    headers: ['host', 'app.localhost'],
    body: [],
    handler: 0,
    requestId: `req${++counter}`,
    remoteAddr: '127.0.0.1',
    https: false,
    ...over,
  };
}
