/**
 * A Node child process the platform supervises (the socket service, instances), after
 * miniflare's runtime: the child reports readiness on its IPC channel and the parent races
 * "ready" against "exited", a spawn error and a start timeout, so a crash during start-up
 * becomes an error carrying the child's stderr instead of a hang or a bare exit code.
 * Runs in the platform process only; zod-free, and callers judge the messages themselves.
 */
import { type ChildProcess, type Serializable, spawn } from 'node:child_process';

/**
 * How a child ended: its exit code, or the signal that ended it.
 *
 * @example
 * const { code, signal } = await child.exited; // { code: null, signal: 'SIGKILL' } after kill()
 */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Defaults of the optional settings, with their units. The timeouts that matter to callers
 * (start, stop) have none: each caller passes its own.
 *
 * @example
 * new SupervisedChild({ args, stderrTailLines: SUPERVISED_CHILD_DEFAULTS.stderrTailLines * 2 });
 */
export const SUPERVISED_CHILD_DEFAULTS = {
  /** stderr lines kept for the error of a failed start. */
  stderrTailLines: 40,
  /**
   * After a failed start's child exited, how long to wait for the rest of its output: the pipes
   * usually close with it, but a grandchild it started can hold them open.
   */
  outputDrainMs: 200,
} as const;

/**
 * What to spawn and where its output goes.
 *
 * @example
 * const options: SupervisedChildOptions = { args: ['--enable-source-maps', main], cwd: appDir, env };
 */
export interface SupervisedChildOptions {
  /** Arguments of the Node executable: Node flags, the script, its arguments. */
  args: readonly string[];
  /**
   * The Node executable; `process.execPath` (the platform's own Node) when left out. Instances
   * of a version whose `runtime:` names another Node major run on that one.
   */
  execPath?: string;
  /**
   * A wrapper to start Node with (e.g. `unshare`, for instance isolation): the child is then
   * `command ...commandArgs execPath ...args`. It must exec Node in its own process (not
   * fork), so that `pid` is Node's and the IPC channel (fd 3) reaches it. Node itself when left out.
   */
  command?: string;
  /** The wrapper's own arguments, before the Node executable. */
  commandArgs?: readonly string[];
  /** The child's whole environment; `process.env` when left out. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Each line the child prints, without its `\n`; a last line without one comes at the end. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** stderr lines kept for `stderrTail` and a failed start's error. */
  stderrTailLines?: number;
  /** See SUPERVISED_CHILD_DEFAULTS.outputDrainMs. */
  outputDrainMs?: number;
}

/**
 * How to tell that the child is ready, and how long it may take.
 *
 * @example
 * const ready: ReadyOptions = {
 *   isReady: (m) => (isType(m, 'ready') ? true : isType(m, 'failed') ? m.error.message : undefined),
 *   startTimeoutMs: 10_000,
 * };
 */
export interface ReadyOptions {
  /**
   * Judges each IPC message until the child is ready: `true` when it says it is, a reason
   * (string) when it says it failed, `undefined` for a message that is about neither.
   */
  isReady(message: unknown): true | string | undefined;
  /** The child must be ready within this long, or it is killed. */
  startTimeoutMs: number;
}

/**
 * How to ask the child to exit, and how long to wait before killing it.
 *
 * @example
 * await child.stop({ message: { type: 'stop' }, graceMs: 2_000 });
 */
export interface StopOptions {
  /** What the child takes as "finish and exit", sent over IPC. */
  message: Serializable;
  /** How long the child has to exit after the message before it is killed. */
  graceMs: number;
  /** Why it was killed, if it was; by default that it did not exit within `graceMs`. */
  reason?: string;
}

/**
 * How a stop ended; `reason` says why when the child had to be killed (it did not exit in
 * time, or its IPC channel was closed so it could not be asked).
 *
 * @example
 * // { code: null, signal: 'SIGKILL', killed: true, reason: 'it did not exit within 2000 ms of stop' }
 * const result = await child.stop({ message: { type: 'stop' }, graceMs: 2_000 });
 */
export type StopResult = ChildExit & ({ killed: false } | { killed: true; reason: string });

/**
 * A child that did not become ready. `reason` says why, `stderr` is its stderr tail (lines
 * joined with `\n`; empty if it printed none); callers wrap both in their own HangarError.
 *
 * @example
 * catch (err) {
 *   if (err instanceof ChildStartError) throw new HangarError('SOCKET_SERVICE_FAILED', `...: ${err.reason}`);
 * }
 */
export class ChildStartError extends Error {
  /** `exited`: it ended before ready; `failed`: it said so; `timeout`; `error`: spawn failed. */
  readonly kind: 'exited' | 'failed' | 'timeout' | 'error';
  readonly reason: string;
  readonly stderr: string;

  constructor(kind: ChildStartError['kind'], reason: string, stderr: string) {
    super(stderr ? `${reason}\n--- stderr ---\n${stderr}` : reason);
    this.name = 'ChildStartError';
    this.kind = kind;
    this.reason = reason;
    this.stderr = stderr;
  }
}

/**
 * Spawns `execPath` (`process.execPath` unless given; through `command` when one is given) with stdio
 * `['ignore', 'pipe', 'pipe', 'ipc']` at once; `ready()` then waits for it to report readiness.
 * Use `startSupervisedChild` for both in one call; this two-step form is for callers that need
 * the pid or the child's messages while it starts.
 *
 * @example
 * const child = new SupervisedChild({ args: [main], env, onLine: (stream, line) => log(line) });
 * child.onMessage(shipLogs); // from spawn on, so lines of a module's top level count too
 * await child.ready({ isReady: (m) => (isType(m, 'ready') ? true : undefined), startTimeoutMs: 10_000 });
 */
export class SupervisedChild {
  /** Undefined when the spawn itself failed (`ready()` then rejects with kind `error`). */
  readonly pid: number | undefined;
  /** Settles once the child has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  readonly #child: ChildProcess;
  readonly #messageListeners = new Set<(message: unknown) => void>();
  readonly #tail: string[] = [];
  readonly #tailLines: number;
  readonly #outputDrainMs: number;
  readonly #outputEnded: Promise<unknown>;
  #exit: ChildExit | undefined;
  #stopping: Promise<StopResult> | undefined;

  constructor(options: SupervisedChildOptions) {
    this.#tailLines = options.stderrTailLines ?? SUPERVISED_CHILD_DEFAULTS.stderrTailLines;
    this.#outputDrainMs = options.outputDrainMs ?? SUPERVISED_CHILD_DEFAULTS.outputDrainMs;
    const node = options.execPath ?? process.execPath;
    const child = spawn(
      options.command ?? node,
      options.command === undefined
        ? [...options.args]
        : [...(options.commandArgs ?? []), node, ...options.args],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    this.#child = child;
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      const ended = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.#exit) return;
        // A child that could not be spawned (a missing cwd) has 'close' with a negative errno, no 'exit'.
        this.#exit = this.pid === undefined ? { code: null, signal: null } : { code, signal };
        resolve(this.#exit);
      };
      child.once('exit', ended);
      child.once('close', ended);
    });
    // A send to a dying child fails with EPIPE, and a failed spawn reports here: without a
    // listener Node would throw those in the platform process. The exit says the rest.
    child.on('error', () => {});
    child.on('message', (message: unknown) => {
      for (const listener of this.#messageListeners) listener(message);
    });
    const onLine = options.onLine;
    this.#outputEnded = Promise.all([
      this.#pipeLines('stdout', onLine),
      this.#pipeLines('stderr', (stream, line) => {
        this.#tail.push(line);
        if (this.#tail.length > this.#tailLines) this.#tail.shift();
        onLine?.(stream, line);
      }),
    ]);
  }

  /** The IPC channel is open: `send` can reach the child. */
  get connected(): boolean {
    return this.#child.connected;
  }

  /** It has not exited (or failed to spawn) yet. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The last stderr lines (up to `stderrTailLines`), joined with `\n`. */
  get stderrTail(): string {
    return this.#tail.join('\n');
  }

  /**
   * Resolves when `isReady` accepts a message. Rejects with a ChildStartError when the child
   * reports a failure, exits, fails to spawn or stays silent past `startTimeoutMs`; it is
   * killed and has exited by then, and the error carries its stderr tail.
   *
   * @example
   * await child.ready({ isReady: (m) => (isType(m, 'ready') ? true : undefined), startTimeoutMs: 15_000 });
   */
  async ready(options: ReadyOptions): Promise<void> {
    type Outcome = { kind: ChildStartError['kind']; reason: string } | undefined;
    const failure = await new Promise<Outcome>((resolve) => {
      const child = this.#child;
      const finish = (outcome: Outcome) => {
        clearTimeout(timer);
        offMessage();
        child.off('error', onError);
        resolve(outcome);
      };
      const timer = setTimeout(
        () =>
          finish({ kind: 'timeout', reason: `it did not report ready within ${options.startTimeoutMs} ms` }),
        options.startTimeoutMs,
      );
      const offMessage = this.onMessage((message) => {
        const verdict = options.isReady(message);
        if (verdict === true) finish(undefined);
        else if (typeof verdict === 'string') finish({ kind: 'failed', reason: verdict });
      });
      const onError = (err: Error) => finish({ kind: 'error', reason: err.message });
      child.on('error', onError);
      // Through `exited`, so a child that died before `ready()` was called fails too.
      this.exited.then(({ code, signal }) =>
        finish({ kind: 'exited', reason: `it exited (${signal ?? `code ${code}`}) before it was ready` }),
      );
    });
    if (!failure) return;
    this.kill();
    await this.exited;
    await this.#drainOutput();
    throw new ChildStartError(failure.kind, failure.reason, this.stderrTail);
  }

  /**
   * Sends `message` over IPC; false when the channel is closed. A send that fails because the
   * child is dying is dropped: its exit event says the rest.
   *
   * @example
   * child.send({ type: 'ping', id });
   */
  send(message: Serializable): boolean {
    if (!this.#child.connected) return false;
    // With a callback, a failed write is handed to it instead of becoming an 'error' event.
    this.#child.send(message, () => {});
    return true;
  }

  /**
   * Calls `listener` with each IPC message from now on; returns a function that stops it.
   *
   * @example
   * const off = child.onMessage((m) => handle(m));
   */
  onMessage(listener: (message: unknown) => void): () => void {
    this.#messageListeners.add(listener);
    return () => this.#messageListeners.delete(listener);
  }

  /**
   * Calls `listener` once the child has exited, also if it had before; returns a function that
   * cancels it.
   *
   * @example
   * child.onExit((code, signal) => logger.error(`it exited (${signal ?? `code ${code}`})`));
   */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): () => void {
    let cancelled = false;
    this.exited.then(({ code, signal }) => {
      if (!cancelled) listener(code, signal);
    });
    return () => {
      cancelled = true;
    };
  }

  /**
   * Asks the child to exit with `message` (kills it at once if its IPC channel is closed),
   * kills it if it has not exited within `graceMs`, and resolves once it has exited, saying
   * whether it had to be killed and why. A second call returns the first one's promise.
   *
   * @example
   * const result = await child.stop({ message: { type: 'stop' }, graceMs: 2_000 });
   * if (result.killed) logger.warn(`killed the socket service: ${result.reason}`);
   */
  stop(options: StopOptions): Promise<StopResult> {
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: StopOptions): Promise<StopResult> {
    if (this.#exit) return { ...this.#exit, killed: false };
    let killedBecause: string | undefined;
    const killFor = (reason: string) => {
      killedBecause = reason;
      this.kill();
    };
    let timer: NodeJS.Timeout | undefined;
    if (this.send(options.message)) {
      timer = setTimeout(
        () => killFor(options.reason ?? `it did not exit within ${options.graceMs} ms of stop`),
        options.graceMs,
      );
    } else killFor('its IPC channel was closed, so it could not be asked to stop');
    const exit = await this.exited;
    clearTimeout(timer);
    // Killed after it had exited by itself does not count: the signal found no process.
    if (killedBecause === undefined || exit.signal !== 'SIGKILL') return { ...exit, killed: false };
    return { ...exit, killed: true, reason: killedBecause };
  }

  /**
   * Ends the child at once (SIGKILL), if it is still running.
   *
   * @example
   * child.kill();
   * await child.exited;
   */
  kill(): void {
    // Through the ChildProcess, not process.kill(pid): after it was reaped its handle is closed,
    // so a pid the system has since given to another process is never signalled.
    if (this.running) this.#child.kill('SIGKILL');
  }

  #pipeLines(stream: 'stdout' | 'stderr', onLine: SupervisedChildOptions['onLine']): Promise<void> {
    const source = this.#child[stream];
    if (!source) return Promise.resolve();
    let rest = '';
    source.setEncoding('utf8');
    source.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      if (onLine) for (const line of lines) onLine(stream, line);
    });
    return new Promise((resolve) => {
      source.once('close', () => {
        if (rest) onLine?.(stream, rest);
        rest = '';
        resolve();
      });
    });
  }

  /** Waits for the last output of an exited child, for at most `outputDrainMs`. */
  async #drainOutput(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#outputEnded,
      new Promise((resolve) => {
        timer = setTimeout(resolve, this.#outputDrainMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

/**
 * Spawns a supervised child and resolves once it is ready (see `SupervisedChild.ready`).
 *
 * @example
 * const child = await startSupervisedChild({
 *   args: [serviceMain],
 *   env: { ...process.env, HANGAR_SOCKETS_INIT: JSON.stringify(init) },
 *   isReady: (m) => (isType(m, 'ready') ? true : isType(m, 'failed') ? m.message : undefined),
 *   startTimeoutMs: 15_000,
 * });
 */
export async function startSupervisedChild(
  options: SupervisedChildOptions & ReadyOptions,
): Promise<SupervisedChild> {
  const child = new SupervisedChild(options);
  await child.ready(options);
  return child;
}
