/**
 * The request journal (request-journal.ts): entries read back as the records they were written
 * from; answers end only once their records are in the file, one write per turn; files started
 * over, rotated, reused and deleted as the log reports commits, what is left from an earlier
 * generation never read as an entry; recovery of a dead process's files into a real SQLite
 * store, skipping what is stored, stopping at a torn entry.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../shared/request-record.js';
import { openLogStore } from './open-store.js';
import {
  type JournaledRecord,
  journalEntry,
  parseEntry,
  parseHead,
  RequestJournal,
  readJournal,
  recoverJournals,
} from './request-journal.js';
import { createRequestLogs, toStoredRecord } from './request-logs.js';

const t = Date.parse('2026-11-21T10:00:00.000Z');
/** Above any pid_max: never a live process. */
const DEAD_PID = 99_999_999;

/** Every field set: a field added to RequestRecord and not journaled fails the round trip. */
const full: Required<RequestRecord> = {
  requestId: `${'0'.repeat(31)}1`,
  startTime: t,
  method: 'POST',
  resource: '/a path/with "quotes"?q=\\x&é=✓',
  httpVersion: '1.1',
  status: 201,
  latencyMs: 12.5,
  app: 'app',
  service: 'default',
  version: 'v1',
  instanceId: 'f'.repeat(32),
  host: 'example.localhost:8080',
  userAgent: 'agent\twith a tab',
  ip: '::ffff:127.0.0.1',
  secure: true,
  split: 'cookie:v1=0.7,v2=0.3',
  bytesIn: 321,
  bytesOut: 654,
  pendingMs: 1.25,
  loadingRequest: true,
  error: 'HANGAR_E_SOMETHING: it "failed"\non two lines',
  lines: JSON.stringify([
    [t, 1, 'one'],
    [t + 1, 3, 'two\twith a tab and "quotes"'],
  ]),
  linesComplete: true,
};

function served(n: number, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    requestId: `${n}`.padStart(32, '0'),
    startTime: t + n,
    method: 'GET',
    resource: `/r/${n}`,
    status: 200,
    latencyMs: 0,
    bytesOut: 0,
    instanceId: 'a'.repeat(32),
    lines: JSON.stringify([[t + n, 1, `line of ${n}`]]),
    linesComplete: true,
    ...extra,
  };
}

/** An entry of `generation` as a line, without its newline. */
const line = (record: RequestRecord, generation: number) => journalEntry(record, generation).slice(0, -1);
const generationOf = (file: string) => Number(basename(file).split('-').at(-1));
const resources = (text: string, generation: number) =>
  readJournal(text, generation).records.map((r) => r.resource);

/** A response that notes, when it is ended, what the journal file held at that moment. */
class FakeResponse {
  ended = false;
  body: Uint8Array | undefined;
  fileAtEnd = '';
  constructor(
    readonly file: () => string,
    readonly _header = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n',
  ) {}
  end(body?: Uint8Array) {
    this.fileAtEnd = readFileSync(this.file(), 'utf8');
    this.ended = true;
    this.body = body;
  }
  destroy() {}
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('journal entries', () => {
  it('read back as the record they were written from, every field', () => {
    expect(parseEntry(line(full, 3), 3)).toEqual(full);
    const withoutLines: RequestRecord = { ...full, lines: undefined };
    expect(parseEntry(line(withoutLines, 3), 3)).toEqual(withoutLines);
    // Lines text with a newline (only a broken instance sends it) cannot follow the tab: it is escaped.
    const broken: RequestRecord = { ...full, lines: 'not\nthe stored form\twith a tab' };
    const entry = journalEntry(broken, 3);
    expect(entry.indexOf('\n')).toBe(entry.length - 1);
    expect(parseEntry(entry.slice(0, -1), 3)).toEqual(broken);
    // Lines text with a tab (not the stored form either) follows the head as it is.
    const tabbed: RequestRecord = { ...full, lines: 'a\tb' };
    expect(parseEntry(line(tabbed, 3), 3)).toEqual(tabbed);
  });

  it("keeps each record's own connection and route fields when they change from one to the next", () => {
    const records: RequestRecord[] = [
      served(1, { userAgent: 'a', secure: true, app: 'one' }),
      served(2, { userAgent: 'b', secure: false, app: 'one' }),
      served(3, { userAgent: 'a', secure: true, app: 'one' }),
      served(4, { userAgent: 'a', secure: true, app: undefined, host: '"quoted"\\host' }),
      served(5, { userAgent: 'a', secure: true, app: undefined, host: '"quoted"\\host' }),
      served(6, { method: 'PUT' }),
      served(7, { split: 'cookie:v1=0.7,v2=0.3', version: 'v1' }),
      served(8, { split: 'cookie:v1=0.7,v2=0.3', version: 'v2' }),
      served(9, { split: 'ip:v1=0.5,v2=0.5', version: 'v2' }),
      served(10, { version: 'v2' }),
    ];
    for (const each of records) {
      const record = { ...each, latencyMs: 1 };
      expect(parseEntry(line(record, 1), 1)).toEqual(record);
    }
  });

  it('is one line: the head, the lines text as it came, the generation', () => {
    const entry = journalEntry(full, 12);
    expect(entry.endsWith(`\t${full.lines}\t12\n`)).toBe(true);
    expect(entry.split('\n')).toHaveLength(2);
  });

  it('gives a record without a start time the one the log would (now minus its latency), and latency so far when it has none', () => {
    const before = Date.now();
    const internal = parseEntry(line({ ...served(1), startTime: undefined, latencyMs: 40 }, 0), 0)!;
    expect(internal.startTime).toBeGreaterThanOrEqual(before - 40);
    expect(internal.startTime).toBeLessThanOrEqual(Date.now() - 40);
    const open = parseEntry(line({ ...served(1), startTime: before - 1000, latencyMs: 0 }, 0), 0)!;
    expect(open.latencyMs).toBeGreaterThanOrEqual(1000);
  });

  it('refuses what is not an entry of the generation', () => {
    const good = line(full, 4);
    for (const bad of [
      '',
      'not json\t4',
      good.replace(/\t4$/, '\t3'),
      good.replace(/\t4$/, ''),
      good.slice(0, good.indexOf('\t') - 3) + '\t4',
      good.replace('[2,', '[3,'),
      // Format 1 has one field fewer.
      good.replace('[2,', '[1,'),
      good.replace(`,${JSON.stringify(full.split)}]`, ']'),
      `${JSON.stringify([1, 2, 3])}\t4`,
      good.replace(`"${full.requestId}"`, '17'),
    ]) {
      expect(parseEntry(bad, 4), bad).toBeUndefined();
    }
  });

  it('are written in format 2, with the split last; format 1 entries (the previous release, no split) are still read', () => {
    const head = journalEntry(full, 4).split('\t')[0]!;
    const fields = JSON.parse(head) as unknown[];
    expect(fields[0]).toBe(2);
    expect(fields).toHaveLength(24);
    expect(fields.at(-1)).toBe(full.split);
    expect(JSON.parse(journalEntry(served(1), 4).split('\t')[0]!).at(-1)).toBeNull();
    // A format 1 entry as the previous release wrote it: 23 fields, ending with `secure`.
    const requestId = `${'0'.repeat(31)}7`;
    const v1 = `[1,"${requestId}",${t},"/old?q=1",200,3.5,120,450,0.5,false,null,true,null,"GET","1.1","app","default","v1","${'b'.repeat(32)}","app.localhost:8080","curl/8","127.0.0.1",false]`;
    const old = parseEntry(`${v1}\t${JSON.stringify([[t, 1, 'old line']])}\t9`, 9);
    expect(old).toEqual({
      requestId,
      startTime: t,
      method: 'GET',
      resource: '/old?q=1',
      httpVersion: '1.1',
      status: 200,
      latencyMs: 3.5,
      app: 'app',
      service: 'default',
      version: 'v1',
      instanceId: 'b'.repeat(32),
      host: 'app.localhost:8080',
      userAgent: 'curl/8',
      ip: '127.0.0.1',
      secure: false,
      bytesIn: 120,
      bytesOut: 450,
      pendingMs: 0.5,
      loadingRequest: false,
      linesComplete: true,
      lines: JSON.stringify([[t, 1, 'old line']]),
    });
    expect(old!.split).toBeUndefined();
    expect(parseHead(v1)).toMatchObject({ requestId, version: 'v1' });
    expect(readJournal(`${v1}\t9\n${journalEntry(full, 9)}`, 9).records.map((r) => r.split)).toEqual([
      undefined,
      full.split,
    ]);
  });

  it("a file's entries end at the first line of another generation or a torn one", () => {
    const a = journalEntry(served(1), 5);
    const b = journalEntry(served(2), 5);
    // Left from generation 2 further on, and a write cut by the crash inside an entry.
    const stale = journalEntry(served(3), 2) + journalEntry(served(4), 2);
    expect(resources(a + b + stale, 5)).toEqual(['/r/1', '/r/2']);
    expect(resources(a + b.slice(0, 40) + stale, 5)).toEqual(['/r/1']);
    expect(resources(a + b.slice(0, -2), 5)).toEqual(['/r/1']);
    expect(resources(stale, 5)).toEqual([]);
    expect(readJournal(`${a}garbage\t5\n${b}`, 5)).toMatchObject({ unreadable: 1 });
  });
});

describe('RequestJournal', () => {
  let dir: string;
  let errors: string[];
  let journal: RequestJournal;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-journal-'));
    errors = [];
    journal = new RequestJournal({ dir, onError: (m) => errors.push(m) });
  });
  afterEach(() => {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const current = () => journal.currentFile;
  const text = () => readFileSync(current(), 'utf8');
  const inCurrent = () => resources(text(), generationOf(current()));

  it('ends the answers of a turn only once all their records are in the file, in order', async () => {
    const responses = [1, 2, 3].map(() => new FakeResponse(current));
    const records = [1, 2, 3].map((n) => served(n));
    const body = Buffer.from('ok');
    for (const [i, res] of responses.entries())
      journal.end(records[i]!, res as unknown as ServerResponse, body);
    expect(responses.some((res) => res.ended)).toBe(false);
    expect(text()).toBe('');
    await turn();
    for (const res of responses) {
      expect(res.ended).toBe(true);
      expect(res.body).toBe(body);
      // Already at the first end: one write for the turn, before any answer.
      expect(resources(res.fileAtEnd, generationOf(current()))).toEqual(['/r/1', '/r/2', '/r/3']);
    }
    const [first] = readJournal(text(), generationOf(current())).records;
    // The bytes handed over: head and body.
    expect(first!.bytesOut).toBe(responses[0]!._header.length + 2);
    expect(first!.lines).toBe(records[0]!.lines);
    expect(errors).toEqual([]);
  });

  it('writes entries larger than its buffer, multibyte text included, whole', async () => {
    const big = JSON.stringify(Array.from({ length: 2000 }, (_, i) => [t, 1, `é✓😀 line ${i} "q"`]));
    const records = [served(1, { lines: big }), served(2, { resource: '/ü/✓' }), served(3, { lines: big })];
    for (const record of records) journal.end(record, new FakeResponse(current) as unknown as ServerResponse);
    await turn();
    const read = readJournal(text(), generationOf(current()));
    expect(read.unreadable).toBe(0);
    expect(read.records.map((r) => [r.resource, r.lines])).toEqual(records.map((r) => [r.resource, r.lines]));
  });

  it('journals a record at once for a caller that writes the answer itself, and keeps its head on it', () => {
    const record: JournaledRecord = served(7);
    journal.write(record);
    const generation = generationOf(current());
    expect(record.journalGeneration).toBe(generation);
    // The head (all but the lines) stays on the record for the log thread; the lines follow it as they came.
    expect(text()).toBe(`${record.journalHead}\t${record.lines}\t${generation}\n`);
    expect(parseHead(record.journalHead!, record.lines)).toEqual(parseEntry(text().slice(0, -1), generation));
    // Journaled again (a later step answered instead): the new entry, still counted once.
    record.status = 500;
    journal.write(record);
    expect(readJournal(text(), generation).records.map((r) => r.status)).toEqual([200, 500]);
    journal.committed(generation, 1);
    // It starts over under a new generation: nothing in it counts any more.
    expect(generationOf(current())).not.toBe(generation);
    expect(inCurrent()).toEqual([]);
  });

  it('starts the current file over once the log has committed everything in it', () => {
    journal.write(served(1));
    journal.write(served(2));
    const generation = generationOf(current());
    journal.committed(generation, 1);
    expect(inCurrent()).toEqual(['/r/1', '/r/2']);
    journal.committed(generation, 1);
    expect(generationOf(current())).not.toBe(generation);
    expect(inCurrent()).toEqual([]);
    // Written over from its start (not appended), so what is left of the old generation ends the read.
    const before = statSync(current()).size;
    journal.write(served(3));
    expect(inCurrent()).toEqual(['/r/3']);
    expect(statSync(current()).size).toBe(before);
  });

  it('seals a file past its size, frees it once its records are committed, and reuses it under a new generation', () => {
    journal.close();
    journal = new RequestJournal({ dir, rotateBytes: 300, onError: (m) => errors.push(m) });
    const first = current();
    const records: JournaledRecord[] = [1, 2].map((n) => served(n));
    for (const record of records) journal.write(record);
    expect(current()).not.toBe(first);
    const second = current();
    journal.write(served(3));
    expect(records.map((r) => r.journalGeneration)).toEqual([generationOf(first), generationOf(first)]);
    expect(journal.files).toEqual([first, second]);
    journal.committed(generationOf(first), 1);
    expect(journal.files).toEqual([first, second]);
    journal.committed(generationOf(first), 1);
    // Free: kept for reuse (its pages are in the page cache), no longer sealed.
    expect(journal.files).toEqual([second, first]);
    // The second file fills up: the first is started over, renamed to a new generation.
    journal.write(served(4));
    const third = current();
    expect(third).not.toBe(first);
    expect(existsSync(first)).toBe(false);
    journal.write(served(5));
    // Written over from its start: the old generation's entries further on are not read as entries.
    expect(inCurrent()).toEqual(['/r/5']);
    expect(text()).toContain('/r/2');
    expect(errors).toEqual([]);
  });

  it('on close deletes what is committed and keeps the rest for the next start', async () => {
    journal.close();
    journal = new RequestJournal({ dir, rotateBytes: 300, onError: (m) => errors.push(m) });
    for (const n of [1, 2, 3]) journal.write(served(n));
    const [first, second] = journal.files;
    journal.committed(generationOf(first!), 2);
    const res = new FakeResponse(current);
    journal.end(served(4), res as unknown as ServerResponse);
    journal.close();
    // What was held is written and ended by close.
    expect(res.ended).toBe(true);
    expect(readdirSync(dir)).toEqual([basename(second!)]);
    expect(resources(readFileSync(second!, 'utf8'), generationOf(second!))).toEqual(['/r/3', '/r/4']);
    // After close, answers end at once.
    const late = new FakeResponse(() => second!);
    journal.end(served(5), late as unknown as ServerResponse);
    expect(late.ended).toBe(true);
  });

  it('with the log: the generations the log reports committed let the journal go', async () => {
    const data = mkdtempSync(join(tmpdir(), 'hangar-journal-data-'));
    const opened = await openLogStore({ kind: 'sqlite', dataDir: data });
    try {
      const logs = createRequestLogs({
        store: opened.store,
        retention: { maxAgeMs: 3_600_000, maxBytes: 2 ** 30 },
        onCommitted: (generations) => {
          for (let i = 0; i < generations.length; i += 2)
            journal.committed(generations[i]!, generations[i + 1]!);
        },
      });
      for (const n of [1, 2, 3]) {
        const record: JournaledRecord = served(n);
        journal.write(record);
        // What the log worker does with a journaled record.
        const parsed = parseHead(record.journalHead!, record.lines)!;
        parsed.journalGeneration = record.journalGeneration!;
        logs.request(parsed);
      }
      expect(statSync(current()).size).toBeGreaterThan(0);
      await logs.close();
      expect(inCurrent()).toEqual([]);
      const page = await opened.store.query({});
      expect(page.entries.map((e) => [e.resource, e.lines.map((l) => l.message)])).toEqual([
        ['/r/1', ['line of 1']],
        ['/r/2', ['line of 2']],
        ['/r/3', ['line of 3']],
      ]);
    } finally {
      await opened.close();
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('recoverJournals', () => {
  let data: string;
  let dir: string;
  let opened: Awaited<ReturnType<typeof openLogStore>>;
  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'hangar-journal-recover-'));
    dir = join(data, 'run');
    opened = await openLogStore({ kind: 'sqlite', dataDir: data });
    new RequestJournal({ dir, onError: () => {} }).close();
  });
  afterEach(async () => {
    await opened.close();
    rmSync(data, { recursive: true, force: true });
  });
  const sink = () => ({
    storedIds: opened.storedIds,
    append: (records: readonly RequestRecord[]) => opened.store.append(records.map(toStoredRecord), []),
  });
  const entries = (generation: number, ...records: RequestRecord[]) =>
    records.map((r) => journalEntry(r, generation)).join('');

  it("stores a dead process's records the store lacks, skips the stored ones, and removes its files", async () => {
    // Stored before the crash, with a line that came over IPC: recovery must not replace it.
    await opened.store.append(
      [toStoredRecord(served(1, { lines: undefined }))],
      [
        {
          requestId: served(1).requestId,
          time: new Date(t).toISOString(),
          level: 'info',
          message: 'over IPC',
        },
      ],
    );
    const owner = `${DEAD_PID}-0badc0de`;
    // Slot 0, generation 3: what is left of generation 1 further on (stored long ago, or pruned) is not read.
    writeFileSync(
      join(dir, `request-journal-${owner}-0-3`),
      entries(3, served(1), served(2), { ...served(3), status: 0 }) + entries(1, served(9)),
    );
    // Slot 1, a later generation: the last entry of a request wins; a write torn inside an entry ends it.
    const torn = journalEntry(served(4), 4);
    writeFileSync(
      join(dir, `request-journal-${owner}-1-4`),
      entries(4, { ...served(3), status: 404 }) + torn.slice(0, torn.length - 10),
    );

    const recovery = await recoverJournals(dir, undefined, sink());
    expect(recovery).toEqual({ files: 2, recovered: 2, alreadyStored: 1, unreadable: 0, pids: [DEAD_PID] });
    expect(readdirSync(dir)).toEqual([]);
    const { entries: stored } = await opened.store.query({});
    expect(stored.map((e) => [e.resource, e.status, e.lines.map((l) => l.message)])).toEqual([
      ['/r/1', 200, ['over IPC']],
      ['/r/2', 200, ['line of 2']],
      ['/r/3', 404, ['line of 3']],
    ]);
    expect(await recoverJournals(dir, undefined, sink())).toBeUndefined();
  });

  it("after an upgrade, recovers the previous release's format 1 entries (no split) and keeps the split of format 2 ones", async () => {
    const owner = `${DEAD_PID}-0ddba11e`;
    // As the previous release wrote it: format 1, 23 fields, the lines text after a tab.
    const old = served(1);
    const v1Head = `[1,${JSON.stringify(old.requestId)},${old.startTime},"${old.resource}",200,2,10,20,null,false,null,true,null,"GET","1.1","app","default","v1","${old.instanceId}","app.localhost",null,"127.0.0.1",false]`;
    writeFileSync(join(dir, `request-journal-${owner}-0-0`), `${v1Head}\t${old.lines}\t0\n`);
    writeFileSync(
      join(dir, `request-journal-${owner}-1-1`),
      entries(1, served(2, { app: 'app', version: 'v2', split: 'cookie:v1=0.7,v2=0.3' })),
    );
    const recovery = await recoverJournals(dir, undefined, sink());
    expect(recovery).toMatchObject({ files: 2, recovered: 2, unreadable: 0 });
    const { entries: stored } = await opened.store.query({});
    expect(stored.map((e) => [e.resource, e.version, e.split, e.lines.map((l) => l.message)])).toEqual([
      ['/r/1', 'v1', null, ['line of 1']],
      ['/r/2', 'v2', 'cookie:v1=0.7,v2=0.3', ['line of 2']],
    ]);
  });

  it("leaves its own files and a live process's alone; this pid with another token is a dead process", async () => {
    const mine = new RequestJournal({ dir, onError: () => {} });
    mine.write(served(1));
    const live = join(dir, `request-journal-${process.ppid}-00000000-0-0`);
    writeFileSync(live, entries(0, served(2)));
    const reused = join(dir, `request-journal-${process.pid}-11111111-0-0`);
    writeFileSync(reused, entries(0, served(3)));
    writeFileSync(join(dir, 'sockets.sock'), '');

    const recovery = await recoverJournals(dir, mine.owner, sink());
    expect(recovery).toMatchObject({ files: 1, recovered: 1, pids: [process.pid] });
    expect(existsSync(mine.currentFile)).toBe(true);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(reused)).toBe(false);
    expect((await opened.store.query({})).entries.map((e) => e.resource)).toEqual(['/r/3']);
    mine.close();
  });

  it('keeps the files when the store fails', async () => {
    const file = join(dir, `request-journal-${DEAD_PID}-0badc0de-0-0`);
    writeFileSync(file, entries(0, served(1)));
    await expect(
      recoverJournals(dir, undefined, {
        storedIds: async () => new Set(),
        append: () => Promise.reject(new Error('disk I/O error')),
      }),
    ).rejects.toThrow('disk I/O error');
    expect(existsSync(file)).toBe(true);
  });
});
