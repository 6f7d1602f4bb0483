/**
 * The request journal: every finished request's log record goes into a file of the data dir's
 * `run/` before its response's last bytes are handed to the socket, so that a crash of the
 * platform process (`kill -9`, an abort, the OOM killer) cannot lose the record of a request
 * whose client got its answer. The request log's worker thread stores records in batches up to
 * ~150 ms after their response; a crash loses what it holds, and the next start on the same data
 * dir recovers it from the journal (recoverJournals(), before the log serves a query).
 *
 * Why before: `res.end()` hands a small answer to the kernel within the call, and the client may
 * read it at once; a journal write after it, even in the same synchronous turn, leaves a window
 * in which a SIGKILL loses the record of an answered request. So the front end hands `end()` the
 * response instead of ending it; the records of one event-loop iteration are written with one
 * `write(2)` once its I/O callbacks have run (setImmediate: answers that completed in the same
 * poll phase, e.g. several gzip results or channel replies, share the write; with
 * process.nextTick each got a write of its own), and
 * only then are their responses ended. A crash inside the write leaves a torn last entry and no
 * answer sent. The page cache outlives the process, so there is no fsync: this survives a crash
 * of the process, not of the machine. The entry's head is also what the log thread gets of a
 * journaled record (the log worker parses it with parseHead(), with the lines text and the few
 * values known only once the exchange closed), which costs less than the structured clone of
 * the whole record it replaces.
 *
 * Files: `request-journal-<pid>-<token>-<slot>-<generation>`. A slot is a file written from its
 * start; each time it starts over it is renamed to a new generation, and every entry ends with
 * its generation, so what is left further on from an earlier generation is told apart (and a
 * write torn by the crash too: the first line that does not end with the file's generation ends
 * what is read). Writing over pages the page cache already holds costs a quarter of appending
 * to a truncated or new file (2.2 against 9.4 µs for 14 KB). The worker reports the records it
 * committed, per generation (`committed()`). The current slot, once all its records are
 * committed, starts over under its next generation (written over, not truncated); past `rotateBytes` it is sealed and a free slot (or a
 * new one) is started; a sealed slot whose records are all committed is free again (at most two
 * are kept). A file whose process is gone is recovered by the next start, file by file.
 *
 * One entry per line: a JSON array of the record's fields (journalHead(), format first); when the
 * request has app lines that came with its response, a tab and their stored JSON text as it came
 * (JSON holds no raw tab or newline; lines text that holds a newline goes into the array); then a
 * tab and the generation.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { isAlive } from '../shared/process-alive.js';
import type { RequestRecord } from '../shared/request-record.js';

/**
 * A record once journaled: its entry's head (the JSON array: every field but the lines that
 * travel as they came, which stay in `lines`) and the journal generation it was first written to.
 */
export interface JournaledRecord extends RequestRecord {
  journalHead?: string;
  journalGeneration?: number;
}

export interface RequestJournalOptions {
  /** The journal's directory: the data dir's `run/`. */
  dir: string;
  /** A file past this size is sealed and another one started (default 1 MiB). */
  rotateBytes?: number;
  /** Writing failed; the responses go out anyway (said by the caller once per message). */
  onError(message: string): void;
}

/**
 * The entry format's version, its first field. 2 added the split that picked the version (the
 * last field); entries of format 1 (23 fields, no split), as the previous release wrote them,
 * are still read, so a journal left by it is recovered after an upgrade.
 */
const FORMAT = 2;
/** Entries in the array: the format, then the record's fields (journalHead()). */
const FIELD_COUNT = 24;
/** Entries in a format 1 array: FORMAT 2's without the split. */
const FORMAT_1_FIELD_COUNT = 23;
const FILE = /^request-journal-(\d+)-([0-9a-f]+)-(\d+)-(\d+)$/;
const DEFAULT_ROTATE_BYTES = 1 << 20;
/** Free slots kept for reuse; more are deleted. */
const FREE_SLOTS = 2;
const TAB = 9;

interface Slot {
  index: number;
  /** Its current generation, in its file's name and at the end of each entry written since it started over. */
  generation: number;
  file: string;
  fd: number | undefined;
  /** Where the next write goes. */
  position: number;
  /** `\t<generation>\n`: each entry's end. */
  end: string;
  /** Records first journaled in this generation. */
  count: number;
  /** Of those, committed to the store (as the log worker reported). */
  committed: number;
}

/**
 * The platform process's journal (its main thread). The front end calls `end()` where it would
 * end a response, `write()` where it writes the last bytes itself (static files, early
 * rejections); the request log calls `write()` for a record that was not journaled yet (the
 * platform's own /_ah/ requests) and `committed()` when its worker reports a commit.
 *
 * @example
 * const journal = new RequestJournal({ dir: join(dataDir, 'run'), onError: (m) => logger.error(m) });
 * journal.end(record, res, body); // res.end(body) once record is in the file, later this turn
 */
export class RequestJournal {
  /** `<pid>-<token>`: the part of this process's file names that names it. */
  readonly owner: string;
  readonly #dir: string;
  readonly #rotateBytes: number;
  readonly #onError: (message: string) => void;
  #current: Slot;
  /** Sealed slots whose records are not all committed yet, by generation. */
  readonly #sealed = new Map<number, Slot>();
  readonly #free: Slot[] = [];
  #generations = 0;
  #slots = 0;
  /** Responses handed to end() this turn, and their records and bodies. */
  #records: JournaledRecord[] = [];
  #responses: ServerResponse[] = [];
  #bodies: Array<Uint8Array | undefined> = [];
  #scheduled = false;
  #closed = false;
  /** Where a write's entries are encoded: straight from each string, nothing concatenated. */
  #buffer = Buffer.allocUnsafe(64 * 1024);
  readonly #flushTurn = () => this.#flush();

  constructor(options: RequestJournalOptions) {
    this.#dir = options.dir;
    this.#rotateBytes = options.rotateBytes ?? DEFAULT_ROTATE_BYTES;
    this.#onError = options.onError;
    // The token tells this process's files from those of a dead one that had the same pid
    // (pid 1 in a container that was restarted).
    this.owner = `${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      mkdirSync(this.#dir, { recursive: true });
    } catch {
      // #newSlot reports it.
    }
    this.#current = this.#newSlot();
  }

  /**
   * Ends `res` with `body` once `record` is in the journal: at the end of this turn, one write
   * for every record handed over in the turn, then their responses, in the order they came.
   * Call it after `res.writeHead()`, with the record's status set.
   */
  end(record: RequestRecord, res: ServerResponse, body?: Uint8Array): void {
    if (this.#closed) {
      res.end(body);
      return;
    }
    this.#records.push(record);
    this.#responses.push(res);
    this.#bodies.push(body);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushTurn);
    }
  }

  /** Puts `record` in the journal now (one write): for a caller that then writes the last bytes itself. */
  write(record: RequestRecord): void {
    if (this.#closed) return;
    this.#append(this.#put(record, record.bytesOut, 0));
  }

  /** The log worker committed `count` records first journaled in generation `generation`. */
  committed(generation: number, count: number): void {
    const current = this.#current;
    const slot = generation === current.generation ? current : this.#sealed.get(generation);
    if (!slot) return;
    slot.committed += count;
    if (slot.committed < slot.count) return;
    if (slot !== current) {
      this.#sealed.delete(generation);
      this.#release(slot);
    } else if (slot.position > 0 && slot.fd !== undefined) {
      // Everything in it is stored: it starts over under its next generation, written over from
      // its start. Not truncated: writing over pages the page cache holds costs a quarter of
      // appending to an emptied file, and what is left further on ends with the old generation.
      if (!this.#startOver(slot)) this.#current = this.#newSlot();
    }
  }

  /** The file the next entries go to (tests). */
  get currentFile(): string {
    return this.#current.file;
  }

  /** This journal's files: sealed, then current, then free (tests). */
  get files(): string[] {
    return [...this.#sealed.values(), this.#current, ...this.#free].map((slot) => slot.file);
  }

  /**
   * Ends what is held and stops journaling. Call once the log has committed what it was given:
   * files whose records are all committed are deleted; any other stays for the next start.
   */
  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    for (const slot of [...this.#sealed.values(), this.#current, ...this.#free.splice(0)]) {
      this.#closeFile(slot);
      if (slot.committed >= slot.count) this.#unlink(slot.file);
    }
    this.#sealed.clear();
  }

  #flush(): void {
    this.#scheduled = false;
    const records = this.#records;
    const responses = this.#responses;
    const bodies = this.#bodies;
    if (records.length === 0) return;
    // New arrays: a response ended below may lead to another end() (it waits for the next turn).
    this.#records = [];
    this.#responses = [];
    this.#bodies = [];
    let length = 0;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const body = bodies[i];
      const bytesOut =
        headBytes(responses[i]!) + (body !== undefined && record.method !== 'HEAD' ? body.length : 0);
      length = this.#put(record, bytesOut, length);
    }
    // Only once the entries are in the page cache may any of these responses reach its client.
    this.#append(length);
    for (let i = 0; i < responses.length; i++) {
      const res = responses[i]!;
      try {
        res.end(bodies[i]);
      } catch {
        // Not expected (ending a response that was cut throws nothing); never leave the others waiting.
        res.destroy();
      }
    }
  }

  /**
   * Encodes the record's entry into the buffer at `at`; returns where it ends. The record keeps
   * the entry's head (the log thread gets it) and the generation it was first journaled in.
   */
  #put(record: JournaledRecord, bytesOut: number, at: number): number {
    const lines = record.lines;
    const raw = lines !== undefined && lines.indexOf('\n') === -1;
    const head = journalHead(record, bytesOut, raw);
    const slot = this.#current;
    record.journalHead = head;
    if (record.journalGeneration === undefined) {
      record.journalGeneration = slot.generation;
      slot.count++;
    }
    at = this.#encode(head, at);
    if (raw) {
      this.#buffer[at++] = TAB;
      at = this.#encode(lines, at);
    }
    return this.#encode(slot.end, at);
  }

  /** Encodes `text` (UTF-8) at `at`, growing the buffer as needed, with room for one more byte. */
  #encode(text: string, at: number): number {
    const room = text.length * 3 + 1;
    if (this.#buffer.length - at < room) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, at + room));
      this.#buffer.copy(grown, 0, 0, at);
      this.#buffer = grown;
    }
    return at + this.#buffer.write(text, at);
  }

  /** Writes the buffer's first `length` bytes to the current slot. */
  #append(length: number): void {
    const slot = this.#current;
    if (slot.fd === undefined || length === 0) return;
    try {
      let done = 0;
      // A regular file takes it whole, barring a full disk (which throws on the next try).
      while (done < length)
        done += writeSync(slot.fd, this.#buffer, done, length - done, slot.position + done);
    } catch (err) {
      this.#onError(`cannot write the request journal ${slot.file}: ${(err as Error).message}`);
      return;
    }
    slot.position += length;
    if (slot.position >= this.#rotateBytes) this.#rotate();
  }

  /** Seals the current slot and starts a free one over (or a new one). */
  #rotate(): void {
    const sealed = this.#current;
    if (sealed.committed >= sealed.count) this.#release(sealed);
    else this.#sealed.set(sealed.generation, sealed);
    this.#current = this.#startOver(this.#free.pop()) ?? this.#newSlot();
  }

  /** A free slot under its next generation, written from its start; undefined if renaming failed. */
  #startOver(slot: Slot | undefined): Slot | undefined {
    if (!slot) return undefined;
    const generation = this.#generations++;
    const file = this.#name(slot.index, generation);
    try {
      renameSync(slot.file, file);
    } catch (err) {
      this.#onError(`cannot rename the request journal ${slot.file}: ${(err as Error).message}`);
      this.#closeFile(slot);
      this.#unlink(slot.file);
      return undefined;
    }
    Object.assign(slot, { generation, file, position: 0, end: `\t${generation}\n`, count: 0, committed: 0 });
    return slot;
  }

  #newSlot(): Slot {
    const index = this.#slots++;
    const generation = this.#generations++;
    const file = this.#name(index, generation);
    let fd: number | undefined;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    } catch (err) {
      this.#onError(
        `cannot open the request journal ${file}: ${(err as Error).message}; a crash of the platform may lose the last records`,
      );
    }
    return { index, generation, file, fd, position: 0, end: `\t${generation}\n`, count: 0, committed: 0 };
  }

  #name(index: number, generation: number): string {
    return join(this.#dir, `request-journal-${this.owner}-${index}-${generation}`);
  }

  /** A slot whose records are all committed: kept for reuse, or deleted. */
  #release(slot: Slot): void {
    if (this.#free.length < FREE_SLOTS && slot.fd !== undefined) this.#free.push(slot);
    else {
      this.#closeFile(slot);
      this.#unlink(slot.file);
    }
  }

  #closeFile(slot: Slot): void {
    if (slot.fd === undefined) return;
    try {
      closeSync(slot.fd);
    } catch {
      // Nothing to do about it.
    }
    slot.fd = undefined;
  }

  #unlink(file: string): void {
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#onError(`cannot remove the request journal ${file}: ${(err as Error).message}`);
    }
  }
}

/** Bytes of the head Node built for `res` in writeHead() (latin1: one byte per character). */
function headBytes(res: ServerResponse): number {
  const head = (res as unknown as { _header?: unknown })._header;
  return typeof head === 'string' ? head.length : 0;
}

/**
 * `record` as one journal line of generation `generation` (what RequestJournal writes; tests).
 * What is known only once the exchange closes is journaled as it stands: latency so far (whole
 * ms, when the record has none yet) and `bytesOut` as given; a record without a start time gets
 * the one the log would give it (now minus its latency).
 */
export function journalEntry(record: RequestRecord, generation: number, bytesOut = record.bytesOut): string {
  const lines = record.lines;
  const raw = lines !== undefined && lines.indexOf('\n') === -1;
  const head = journalHead(record, bytesOut, raw);
  return raw ? `${head}\t${lines}\t${generation}\n` : `${head}\t${generation}\n`;
}

/**
 * The JSON array of a journal entry; with `raw`, the lines are left out (they follow a tab). The
 * fields that mostly repeat from one request to the next (the connection's and the route's)
 * come last, written once as JSON and reused while they repeat: a third of the array's cost.
 */
function journalHead(record: RequestRecord, bytesOut: number, raw: boolean): string {
  const now = Date.now();
  const startTime = record.startTime ?? now - record.latencyMs;
  const latencyMs = record.latencyMs > 0 ? record.latencyMs : now - startTime;
  const { error, lines } = record;
  return `[${FORMAT},${JSON.stringify(record.requestId)},${number(startTime)},${JSON.stringify(record.resource)},${number(record.status)},${number(latencyMs)},${number(record.bytesIn)},${number(bytesOut)},${number(record.pendingMs)},${boolean(record.loadingRequest)},${error === undefined ? 'null' : JSON.stringify(error)},${boolean(record.linesComplete)},${raw || lines === undefined ? 'null' : JSON.stringify(lines)},${contextJson(record)}]`;
}

/** A number as JSON writes it. */
function number(value: number | undefined): string {
  return value !== undefined && Number.isFinite(value) ? `${value}` : 'null';
}

function boolean(value: boolean | undefined): string {
  return value === undefined ? 'null' : value ? 'true' : 'false';
}

/** The last record's repeating fields, and them as JSON (without the brackets). */
const context: Pick<
  RequestRecord,
  | 'method'
  | 'httpVersion'
  | 'app'
  | 'service'
  | 'version'
  | 'instanceId'
  | 'host'
  | 'userAgent'
  | 'ip'
  | 'secure'
  | 'split'
> & { json: string } = {
  method: '',
  httpVersion: undefined,
  app: undefined,
  service: undefined,
  version: undefined,
  instanceId: undefined,
  host: undefined,
  userAgent: undefined,
  ip: undefined,
  secure: undefined,
  split: undefined,
  json: '',
};

function contextJson(r: RequestRecord): string {
  const c = context;
  if (
    r.method === c.method &&
    r.instanceId === c.instanceId &&
    r.userAgent === c.userAgent &&
    r.ip === c.ip &&
    r.host === c.host &&
    r.version === c.version &&
    r.service === c.service &&
    r.app === c.app &&
    r.httpVersion === c.httpVersion &&
    r.secure === c.secure &&
    r.split === c.split &&
    c.json !== ''
  )
    return c.json;
  c.method = r.method;
  c.httpVersion = r.httpVersion;
  c.app = r.app;
  c.service = r.service;
  c.version = r.version;
  c.instanceId = r.instanceId;
  c.host = r.host;
  c.userAgent = r.userAgent;
  c.ip = r.ip;
  c.secure = r.secure;
  c.split = r.split;
  const json = JSON.stringify([
    r.method,
    r.httpVersion,
    r.app,
    r.service,
    r.version,
    r.instanceId,
    r.host,
    r.userAgent,
    r.ip,
    r.secure,
    r.split,
  ]);
  c.json = json.slice(1, -1);
  return c.json;
}

/**
 * The record of one journal line (without its newline) of generation `generation`; undefined
 * when it is not one (another generation's, torn, or not an entry at all).
 */
export function parseEntry(line: string, generation: number): JournaledRecord | undefined {
  const last = line.lastIndexOf('\t');
  if (last === -1 || line.slice(last + 1) !== String(generation)) return undefined;
  const tab = line.indexOf('\t');
  if (tab === last) return parseHead(line.slice(0, tab));
  return parseHead(line.slice(0, tab), line.slice(tab + 1, last));
}

/**
 * The record of an entry's head (RequestJournal's `journalHead`), with `lines` when they were
 * left out of it; undefined when it is not one. The log worker reads each journaled record so.
 */
export function parseHead(head: string, lines?: string): JournaledRecord | undefined {
  let fields: unknown;
  try {
    fields = JSON.parse(head);
  } catch {
    return undefined;
  }
  if (
    !Array.isArray(fields) ||
    !(
      (fields[0] === FORMAT && fields.length === FIELD_COUNT) ||
      (fields[0] === 1 && fields.length === FORMAT_1_FIELD_COUNT)
    )
  )
    return undefined;
  const f = fields as unknown[];
  if (
    typeof f[1] !== 'string' ||
    typeof f[3] !== 'string' ||
    typeof f[4] !== 'number' ||
    typeof f[5] !== 'number' ||
    typeof f[7] !== 'number' ||
    typeof f[13] !== 'string'
  )
    return undefined;
  return {
    requestId: f[1],
    startTime: optional(f[2], 'number'),
    method: f[13],
    resource: f[3],
    httpVersion: optional(f[14], 'string'),
    status: f[4],
    latencyMs: f[5],
    app: optional(f[15], 'string'),
    service: optional(f[16], 'string'),
    version: optional(f[17], 'string'),
    instanceId: optional(f[18], 'string'),
    host: optional(f[19], 'string'),
    userAgent: optional(f[20], 'string'),
    ip: optional(f[21], 'string'),
    secure: optional(f[22], 'boolean'),
    // Format 1 has no field 23: undefined, as no split.
    split: optional(f[23], 'string'),
    bytesIn: optional(f[6], 'number'),
    bytesOut: f[7],
    pendingMs: optional(f[8], 'number'),
    loadingRequest: optional(f[9], 'boolean'),
    error: optional(f[10], 'string'),
    linesComplete: optional(f[11], 'boolean'),
    lines: lines ?? optional(f[12], 'string'),
  };
}

function optional<T extends 'string' | 'number' | 'boolean'>(
  value: unknown,
  type: T,
): (T extends 'string' ? string : T extends 'number' ? number : boolean) | undefined {
  return typeof value === type ? (value as never) : undefined;
}

/**
 * The entries of generation `generation` at the start of a journal file's text, up to the first
 * line that is not one (an earlier generation's, or torn by the crash); `unreadable` counts the
 * lines of the generation that were not entries (none unless the file was damaged).
 */
export function readJournal(
  text: string,
  generation: number,
): { records: JournaledRecord[]; unreadable: number } {
  const records: JournaledRecord[] = [];
  const end = `\t${generation}`;
  let unreadable = 0;
  let at = 0;
  for (;;) {
    const newline = text.indexOf('\n', at);
    if (newline === -1) break;
    const line = text.slice(at, newline);
    if (!line.endsWith(end)) break;
    const record = parseEntry(line, generation);
    if (record) records.push(record);
    else unreadable++;
    at = newline + 1;
  }
  return { records, unreadable };
}

/** Where the recovered records go: the store of the log that recovers them. */
export interface RecoverySink {
  /** Of `ids`, those the store already has a record of. */
  storedIds(ids: readonly string[]): Promise<Set<string>>;
  /** Stores `records` (in one transaction), replacing a record of the same id (one this recovery stored). */
  append(records: readonly RequestRecord[]): Promise<void>;
}

/** What a recovery found. */
export interface Recovery {
  /** Journal files of processes that are gone, read and removed. */
  files: number;
  /** Records stored now: those the store did not have. */
  recovered: number;
  /** Records the store had already (committed before the crash). */
  alreadyStored: number;
  /** Lines of a file's generation that were not entries (none unless a file was damaged). */
  unreadable: number;
  /** Pids of the processes whose journals were recovered. */
  pids: number[];
}

/**
 * Recovers the journals in `dir` left by processes that are gone: stores each record the store
 * does not have (the last entry of a request id wins), then removes each file. Not touched:
 * `self`'s files (`RequestJournal.owner`) and those of a live pid other than this process's (a
 * pid equal to this process's with another token is a dead process whose pid came back).
 * Returns undefined when there was nothing to recover. A failing store throws; the files not
 * yet stored stay for the next start.
 *
 * @example
 * const recovery = await recoverJournals(join(dataDir, 'run'), journal.owner, sink);
 */
export async function recoverJournals(
  dir: string,
  self: string | undefined,
  sink: RecoverySink,
): Promise<Recovery | undefined> {
  const files = abandonedJournals(dir, self);
  if (files.length === 0) return undefined;
  const recovery: Recovery = { files: 0, recovered: 0, alreadyStored: 0, unreadable: 0, pids: [] };
  // File by file, so a large backlog (a log thread that stopped long before the crash) is never
  // all in memory. Ids stored by this recovery: a later entry of one replaces the earlier.
  const recoveredNow = new Set<string>();
  for (const { file, pid, generation } of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const read = readJournal(text, generation);
    const byId = new Map<string, RequestRecord>();
    for (const record of read.records) byId.set(record.requestId, record);
    const fresh = [...byId.keys()].filter((id) => !recoveredNow.has(id));
    const stored = fresh.length > 0 ? await sink.storedIds(fresh) : new Set<string>();
    const missing: RequestRecord[] = [];
    for (const [id, record] of byId) {
      if (stored.has(id)) recovery.alreadyStored++;
      else {
        missing.push(record);
        if (!recoveredNow.has(id)) recovery.recovered++;
        recoveredNow.add(id);
      }
    }
    if (missing.length > 0) await sink.append(missing);
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    recovery.files++;
    recovery.unreadable += read.unreadable;
    if (!recovery.pids.includes(pid)) recovery.pids.push(pid);
  }
  return recovery;
}

/** Journal files in `dir` whose process is gone, oldest generation first per process. */
function abandonedJournals(
  dir: string,
  self: string | undefined,
): Array<{ file: string; pid: number; generation: number }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found: Array<{ file: string; pid: number; owner: string; generation: number }> = [];
  for (const name of names) {
    const match = FILE.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    const owner = `${match[1]}-${match[2]}`;
    if (owner === self) continue;
    if (pid !== process.pid && isAlive(pid)) continue;
    found.push({ file: join(dir, name), pid, owner, generation: Number(match[4]) });
  }
  found.sort((a, b) => (a.owner === b.owner ? a.generation - b.generation : a.owner < b.owner ? -1 : 1));
  return found;
}
