import { type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { join, resolve, sep } from 'node:path';

export interface WatchOptions {
  /** Absolute directories (and everything below) never watched, e.g. the data dir. */
  ignore: string[];
  /** Quiet time before a burst of changes is reported once. */
  debounceMs: number;
  /** The absolute paths that changed in one burst. */
  onChange(files: string[]): void;
}

/**
 * Names whose changes never mean new app code: dependencies, VCS, dot folders and files, except
 * the dev server's `.env` and `.env.local` (dev-env-files.ts).
 */
function skippedName(name: string): boolean {
  return name === 'node_modules' || (name.startsWith('.') && name !== '.env' && name !== '.env.local');
}

/**
 * Watches an app directory tree for edits (the dev server's reload, SPEC S2 `--no-watch`).
 * One non-recursive watcher per directory, added as directories appear: Node 20's recursive
 * mode on Linux walks node_modules too and misses directories created after the start.
 */
export class TreeWatcher {
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #options: WatchOptions;
  readonly #ignore: string[];
  #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(root: string, options: WatchOptions) {
    this.#options = options;
    this.#ignore = options.ignore.map((dir) => resolve(dir));
    this.#add(resolve(root));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  #ignored(dir: string): boolean {
    return this.#ignore.some((skip) => dir === skip || dir.startsWith(skip + sep));
  }

  #add(dir: string): void {
    if (this.#closed || this.#watchers.has(dir) || this.#ignored(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => this.#changed(dir, name?.toString()));
    } catch {
      return; // removed meanwhile, or unreadable: nothing to watch
    }
    watcher.on('error', () => {
      watcher.close();
      this.#watchers.delete(dir);
    });
    this.#watchers.set(dir, watcher);
    for (const entry of safeReaddir(dir)) {
      if (entry.isDirectory() && !skippedName(entry.name)) this.#add(join(dir, entry.name));
    }
  }

  #changed(dir: string, name: string | undefined): void {
    if (this.#closed) return;
    const path = name ? join(dir, name) : dir;
    if (name && (skippedName(name) || this.#ignored(path))) return;
    // A new directory needs its own watcher; adding an existing one is a no-op.
    if (name && isDirectory(path)) this.#add(path);
    this.#pending.add(path);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const files = [...this.#pending];
      this.#pending = new Set();
      this.#options.onChange(files);
    }, this.#options.debounceMs);
  }
}

function safeReaddir(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
