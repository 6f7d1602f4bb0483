/** What one run of the suite produces: bench/results.json is exactly a RunRecord. */
import type { ColdStartResult } from './cold-start.js';
import type { ConsoleResult } from './console.js';
import type { GrowthResult } from './growth.js';
import type { HttpResult } from './http-runner.js';
import type { LogstoreResult } from './logstore.js';
import type { MemoryResult } from './memory.js';
import type { BenchOptions } from './options.js';
import type { SocketsResult } from './sockets.js';

export type ScenarioResult =
  | HttpResult
  | ConsoleResult
  | SocketsResult
  | ColdStartResult
  | MemoryResult
  | GrowthResult
  | LogstoreResult;

export interface Verdict {
  /** The target, as the issue words it. */
  target: string;
  status: 'met' | 'not met' | 'not measured';
  /** The figures the verdict rests on. */
  figures: string;
}

export interface RunRecord {
  /** ISO time the run started. */
  date: string;
  machine: { cpus: number; cpuModel: string; os: string; memoryBytes: number };
  node: string;
  /** Short hash, with `+` when the tree had uncommitted changes. */
  commit: string;
  generator: string;
  /** Peer → version, or why it is missing. */
  peers: Record<string, string>;
  options: BenchOptions;
  wallSeconds: number;
  scenarios: ScenarioResult[];
  targets: Verdict[];
}
