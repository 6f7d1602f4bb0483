/**
 * `hangar deploy [PATH ...]` (SPEC S2, S11): the client side of the deploy protocol in
 * docs/serve.md. Every service is loaded, validated and hashed before anything is sent, so a
 * broken app.yaml or a limit broken anywhere changes nothing on the platform. Then, one
 * service after the other: the manifest (`POST /api/deploys`), the blobs the platform lacks
 * (`PUT /api/blobs/<sha256>`), and the build (`POST /api/deploys/<id>/build`), whose NDJSON
 * events are printed as they arrive; the last one says whether the version exists.
 */
import { open, readFile } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { type DispatchRule, loadDispatch } from '../config/dispatch-config.js';
import { mapLimited } from '../config/file-limits.js';
import { type AppConfig, displayPath, formatSize, loadAppConfig } from '../config/index.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import { buildManifest, type Manifest, type ManifestFile } from '../versions/manifest.js';
import { type AdminClientOptions, adminJson, adminRequest, adminTarget } from './admin-client.js';
import { describeFailure } from './validate.js';

export interface DeployOptions extends AdminClientOptions {
  /** MAJOR of the new version; else app.yaml's `version:`, else the platform generates one. */
  version?: string;
  /** False with `--no-promote`. */
  promote: boolean;
  application?: string;
  json?: boolean;
}

/** Where deploy writes; a parameter so tests can read what a user would see. */
export interface DeployIo {
  /** Results and the build's output. */
  out(text: string): void;
  /** Problems and upload progress. */
  err(text: string): void;
  /** Whether `err` is a terminal: progress then redraws one line instead of printing lines. */
  tty: boolean;
}

/** One version deployed, as printed and as `--json` lists it. */
export interface DeployedVersion {
  app: string;
  service: string;
  version: string;
  minor: string;
  promoted: boolean;
  url?: string;
  files: number;
  bytes: number;
  uploadedFiles: number;
  uploadedBytes: number;
}

/** A service ready to send: validated, its application id known, its files hashed. */
interface PreparedService {
  config: AppConfig;
  app: string;
  appYaml: string;
  manifest: Manifest;
}

/** Blobs uploaded at once: enough to keep the connection busy, few enough for a small server. */
const UPLOAD_CONCURRENCY = 4;
const READ_CHUNK = 256 * 1024;
const DISPATCH_FILE = /^dispatch\.ya?ml$/;

/** A failure already printed as lines (validate's format); `code` is the exit code. */
class Reported extends Error {
  constructor(
    readonly lines: string[],
    readonly code = 1,
  ) {
    super(lines.join('\n'));
  }
}

const processIo: DeployIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: Boolean(process.stderr.isTTY),
};

/** Runs `hangar deploy`; resolves to the exit code. Never prints a stack for a user error. */
export async function runDeploy(
  paths: string[],
  opts: DeployOptions,
  io: DeployIo = processIo,
): Promise<number> {
  // With --json, stdout holds only the final document; what a person reads goes to stderr.
  const say = (line: string) => (opts.json ? io.err : io.out)(`${line}\n`);
  const deployed: DeployedVersion[] = [];
  const finish = (code: number, failure?: { reason: string; service?: string }) => {
    if (opts.json) {
      const doc = failure ? { result: 'failed', ...failure, deployed } : { result: 'ok', deployed };
      io.out(`${JSON.stringify(doc, null, 2)}\n`);
    }
    return code;
  };

  let current: string | undefined;
  // dispatch.yaml among the paths: parsed here (file:line errors before anything is sent),
  // sent once the services are deployed, so the rules can name a service deployed with them.
  const dispatchFiles = paths.filter((path) => DISPATCH_FILE.test(basename(path)));
  const servicePaths = paths.filter((path) => !DISPATCH_FILE.test(basename(path)));
  try {
    const dispatch = dispatchFiles.length > 0 ? await loadDispatchFile(dispatchFiles) : undefined;
    const services =
      servicePaths.length > 0 || !dispatch
        ? await prepare(servicePaths.length > 0 ? servicePaths : ['.'], opts, say)
        : [];
    // The token is read once, not once per blob.
    const api: AdminClientOptions = adminTarget(opts);
    for (const service of services) {
      current = `${service.app}/${service.config.service}`;
      const outcome = await deployService(api, service, opts, io, say);
      if ('reason' in outcome) {
        const before = deployed.length
          ? ` (deployed before it: ${deployed.map((d) => `${d.app}/${d.service}/${d.version}`).join(', ')})`
          : '';
        io.err(`hangar: deploy of ${current} failed: ${outcome.reason}${before}\n`);
        return finish(1, { reason: outcome.reason, service: current });
      }
      deployed.push(outcome);
      const url = outcome.url ? `, serving at ${outcome.url}` : '';
      say(
        `deployed ${outcome.app}/${outcome.service}/${outcome.version} (minor ${outcome.minor}), ` +
          `${outcome.promoted ? 'promoted' : 'not promoted'}${url}`,
      );
    }
    if (dispatch) {
      current = dispatch.file;
      const app = opts.application ?? services[0]?.app;
      await adminJson(api, 'POST', '/api/dispatch', {
        ...(app ? { app } : {}),
        rules: dispatch.rules.map(({ url, service }) => ({ url, service })),
      });
      say(`deployed ${dispatch.file}: ${dispatch.rules.length} dispatch rules${app ? ` for ${app}` : ''}`);
    }
    return finish(0);
  } catch (err) {
    if (!(err instanceof Reported) && !isHangarError(err)) throw err;
    const lines = err instanceof Reported ? err.lines : describeFailure(err, 'deploying');
    for (const line of lines) io.err(`${line}\n`);
    const code = err instanceof Reported ? err.code : err.code === 'HANGAR_E_USAGE' ? 2 : 1;
    const reason = err instanceof Reported ? err.lines.join('\n') : err.message;
    return finish(code, { reason, ...(current ? { service: current } : {}) });
  }
}

/** Loads, validates and hashes every service; throws `Reported` with every problem found. */
async function prepare(
  paths: readonly string[],
  opts: DeployOptions,
  say: (line: string) => void,
): Promise<PreparedService[]> {
  // Every app.yaml first, like validate: one run shows every problem, and nothing is sent.
  const problems: string[] = [];
  const loaded = await Promise.allSettled(paths.map((path) => loadAppConfig(path)));
  const configs: AppConfig[] = [];
  for (const result of loaded) {
    if (result.status === 'rejected') problems.push(...describeFailure(result.reason, 'loading app.yaml'));
    else configs.push(result.value);
  }
  const seen = new Map<string, string>();
  const named: Array<{ config: AppConfig; app: string }> = [];
  for (const config of configs) {
    const app = opts.application ?? config.application;
    if (app === undefined) {
      problems.push(
        `hangar: ${displayPath(config.file)} names no application: pass --application ID, or set application: in it`,
      );
      continue;
    }
    const key = `${app}/${config.service}`;
    const other = seen.get(key);
    if (other !== undefined) {
      problems.push(
        `hangar: ${displayPath(other)} and ${displayPath(config.file)} are both service ${key}; deploy one of them`,
      );
      continue;
    }
    seen.set(key, config.file);
    named.push({ config, app });
  }
  if (problems.length > 0) throw new Reported(problemsFound(problems));

  const services: PreparedService[] = [];
  for (const { config, app } of named) {
    try {
      // The data dir is where the token came from; when it lies inside the app it is not the app's.
      const manifest = await buildManifest(config.dir, {
        skipFiles: config.skipFiles,
        ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
      });
      const appYaml = await readFile(config.file, 'utf8');
      services.push({ config, app, appYaml, manifest });
      say(
        `${app}/${config.service}: ${count(manifest.files.length, 'file')} (${formatSize(manifest.bytes)}) from ${displayPath(config.dir)}`,
      );
    } catch (err) {
      if (!isHangarError(err)) throw err;
      problems.push(...describeFailure(err, 'reading the app'));
    }
  }
  if (problems.length > 0) throw new Reported(problemsFound(problems));
  return services;
}

function problemsFound(lines: string[]): string[] {
  const issues = lines.length;
  return [...lines, `hangar deploy: ${issues} problem${issues === 1 ? '' : 's'} found; nothing was deployed`];
}

/** One service through the protocol; the version deployed, or why its build failed. */
async function deployService(
  api: AdminClientOptions,
  service: PreparedService,
  opts: DeployOptions,
  io: DeployIo,
  say: (line: string) => void,
): Promise<DeployedVersion | { reason: string }> {
  const { config, app, manifest } = service;
  const version = opts.version ?? config.version;
  const begun = await adminJson<unknown>(api, 'POST', '/api/deploys', {
    app,
    service: config.service,
    ...(version === undefined ? {} : { version }),
    promote: opts.promote,
    appYaml: service.appYaml,
    // app.yaml's name in the manifest: a service may be deployed from app.standard.yaml or the like.
    configFile: relative(config.dir, config.file).split(sep).join('/'),
    manifest: manifest.files,
  });
  const { id, missing } = readBegun(begun);

  // Several paths may share a hash; the platform needs its bytes once.
  const byHash = new Map<string, ManifestFile>();
  for (const file of manifest.files) if (!byHash.has(file.sha256)) byHash.set(file.sha256, file);
  const wanted = [...new Set(missing)].map((sha256) => {
    const file = byHash.get(sha256);
    if (file === undefined) {
      throw new HangarError(
        'ADMIN_API',
        `the platform asked for blob ${sha256}, which is in no file of the manifest`,
      );
    }
    return file;
  });
  const uploadedBytes = await upload(api, service, wanted, io, say);

  say(`${app}/${config.service}: building`);
  const res = await adminRequest(api, 'POST', `/api/deploys/${encodeURIComponent(id)}/build`, undefined, {
    patient: true,
  });
  const result = await followBuild(res.body, say);
  if (result.result === 'failed') return { reason: result.reason };
  return {
    app: result.app ?? app,
    service: result.service ?? config.service,
    version: result.version,
    minor: result.minor,
    promoted: result.promoted,
    ...(result.url === undefined ? {} : { url: result.url }),
    files: manifest.files.length,
    bytes: manifest.bytes,
    uploadedFiles: wanted.length,
    uploadedBytes,
  };
}

function readBegun(doc: unknown): { id: string; missing: string[] } {
  const { id, missing } = (doc ?? {}) as { id?: unknown; missing?: unknown };
  if (
    (typeof id !== 'string' && typeof id !== 'number') ||
    !Array.isArray(missing) ||
    !missing.every((m) => typeof m === 'string')
  ) {
    throw new HangarError(
      'ADMIN_API',
      `POST /api/deploys answered ${JSON.stringify(doc).slice(0, 200)}, not { id, missing }; is the platform the same Hangar version?`,
    );
  }
  return { id: String(id), missing };
}

/** Uploads `files`, a few at once, each streamed from disk; resolves to the bytes sent. */
async function upload(
  api: AdminClientOptions,
  service: PreparedService,
  files: readonly ManifestFile[],
  io: DeployIo,
  say: (line: string) => void,
): Promise<number> {
  const label = `${service.app}/${service.config.service}`;
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const held = service.manifest.files.length - files.length;
  if (files.length === 0) {
    say(`${label}: nothing to upload; the platform holds every file`);
    return 0;
  }
  say(
    `${label}: uploading ${count(files.length, 'file')} (${formatSize(total)})` +
      (held > 0 ? `; the platform holds the other ${held}` : ''),
  );
  const progress = new Progress(io, files.length, total);
  const started = Date.now();
  try {
    await mapLimited(files, UPLOAD_CONCURRENCY, async (file) => {
      await uploadFile(api, service.config.dir, file, (n) => progress.bytes(n));
      progress.fileDone();
    });
  } finally {
    progress.end();
  }
  say(
    `${label}: uploaded ${count(files.length, 'file')} (${formatSize(total)}) in ${seconds(Date.now() - started)}`,
  );
  return total;
}

async function uploadFile(
  api: AdminClientOptions,
  dir: string,
  file: ManifestFile,
  onBytes: (n: number) => void,
): Promise<void> {
  // Opened before the request, so a file gone since hashing is named as such.
  const handle = await open(join(dir, file.path), 'r').catch((err: NodeJS.ErrnoException) => {
    throw new HangarError(
      'FILE_LIMITS',
      `${file.path} could not be read for upload (${err.code ?? err.message}); run hangar deploy again`,
    );
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  let changed = false;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Never more than the manifest's size: a file that grew must not overrun content-length.
        const want = Math.min(READ_CHUNK, file.size - sent);
        const buffer = Buffer.allocUnsafe(Math.max(want, 1));
        const { bytesRead } = want > 0 ? await handle.read(buffer, 0, want, null) : { bytesRead: 0 };
        if (bytesRead === 0) {
          await close();
          if (sent < file.size) {
            changed = true;
            controller.error(new Error(`${file.path} is shorter than when it was hashed`));
          } else controller.close();
          return;
        }
        sent += bytesRead;
        onBytes(bytesRead);
        controller.enqueue(buffer.subarray(0, bytesRead));
      } catch (err) {
        await close();
        controller.error(err);
      }
    },
    async cancel() {
      await close();
    },
  });
  try {
    await adminRequest(api, 'PUT', `/api/blobs/${file.sha256}`, undefined, {
      bytes: { stream, length: file.size },
    });
  } catch (err) {
    if (changed) {
      throw new HangarError(
        'FILE_LIMITS',
        `${file.path} changed while it was deployed; run hangar deploy again`,
      );
    }
    if (isHangarError(err) && err.status === 400) {
      // The platform hashes what it got: a file edited since the manifest was made ends here.
      throw new HangarError(
        'ADMIN_API',
        `uploading ${file.path} failed: ${err.message}; if it changed during the deploy, run hangar deploy again`,
      );
    }
    throw err;
  } finally {
    await close();
  }
}

type BuildResult =
  | {
      result: 'ok';
      app?: string;
      service?: string;
      version: string;
      minor: string;
      promoted: boolean;
      url?: string;
    }
  | { result: 'failed'; reason: string };

/** Prints the build's phases and log lines as they arrive; resolves to its last line, the result. */
async function followBuild(
  body: ReadableStream<Uint8Array> | null,
  say: (line: string) => void,
): Promise<BuildResult> {
  let result: BuildResult | undefined;
  const handle = (line: string) => {
    if (line.trim() === '' || result !== undefined) return;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new HangarError(
        'ADMIN_API',
        `the build stream sent a line that is not JSON: ${line.slice(0, 200)}`,
      );
    }
    if (typeof event.phase === 'string') say(`build: ${event.phase}`);
    else if (typeof event.log === 'string') say(`  ${event.log}`);
    else if (event.result === 'failed') {
      result = {
        result: 'failed',
        reason: typeof event.reason === 'string' ? event.reason : 'no reason given',
      };
    } else if (event.result === 'ok') {
      result = {
        result: 'ok',
        ...(typeof event.app === 'string' ? { app: event.app } : {}),
        ...(typeof event.service === 'string' ? { service: event.service } : {}),
        version: String(event.version ?? '?'),
        minor: String(event.minor ?? '?'),
        promoted: event.promoted === true,
        ...(typeof event.url === 'string' ? { url: event.url } : {}),
      };
    }
    // Other events are from a newer platform; skipping them keeps this client working.
  };

  let pending = '';
  if (body !== null) {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        pending += decoder.decode(chunk, { stream: true });
        let newline = pending.indexOf('\n');
        while (newline !== -1) {
          handle(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
      }
    } catch (err) {
      if (isHangarError(err)) throw err;
      // The platform stopped or the connection broke mid-build; the result, if any, decides.
      if (result === undefined) {
        return {
          result: 'failed',
          reason: `the build stream broke (${(err as Error).message}); see the platform's log`,
        };
      }
    }
    handle(pending + decoder.decode());
  }
  return (
    result ?? {
      result: 'failed',
      reason: 'the build stream ended without a result; the platform may have stopped (see its log)',
    }
  );
}

/** Upload progress: one redrawn line on a terminal (at most every 100 ms), nothing otherwise. */
class Progress {
  private files = 0;
  private sent = 0;
  private drawn = 0;

  constructor(
    private readonly io: DeployIo,
    private readonly totalFiles: number,
    private readonly totalBytes: number,
  ) {}

  bytes(n: number): void {
    this.sent += n;
    this.draw(false);
  }

  fileDone(): void {
    this.files++;
    this.draw(this.files === this.totalFiles);
  }

  end(): void {
    if (this.io.tty && this.drawn > 0) this.io.err('\r\x1b[2K');
  }

  private draw(force: boolean): void {
    if (!this.io.tty) return;
    const now = Date.now();
    if (!force && now - this.drawn < 100) return;
    this.drawn = now;
    this.io.err(
      `\r\x1b[2Kuploading ${this.files}/${this.totalFiles} files, ${formatSize(this.sent)} of ${formatSize(this.totalBytes)}`,
    );
  }
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The one dispatch.yaml of a deploy, parsed (ConfigError with file:line for a bad one). */
async function loadDispatchFile(files: string[]): Promise<{ file: string; rules: DispatchRule[] }> {
  if (files.length > 1) {
    throw new HangarError('USAGE', `one dispatch.yaml per deploy, not ${files.length}: ${files.join(', ')}`);
  }
  const file = resolve(files[0]!);
  return { file, rules: await loadDispatch(file) };
}
