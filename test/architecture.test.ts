/**
 * Guards the shape of `src/`'s import graph (ARCHITECTURE.md, issue 13).
 *
 * Hangar's code is split by the process that runs it (platform, instance, socket service), and
 * lower layers must not know the wiring above them. Nothing in the compiler enforces that, so
 * this test reads every `.ts` file under `src/` that is not a `*.test.ts`, collects its relative imports (static,
 * `import type`, `export ... from`, and `import('...')` with a string literal, type positions
 * included) and checks that:
 *
 * 1. there is no import cycle, type-only imports included: a type cycle is still a cycle of
 *    meaning, and a value cycle makes module evaluation order matter;
 * 2. no folder imports a folder the layer table below forbids.
 *
 * Paths handed to `new URL('./x.js', import.meta.url)` (a worker's or a child process's entry
 * file) are not imports: that code runs in another thread or process and shares no module
 * instances with the importer, so they are not edges here.
 *
 * The cycle finder and the rule checker are pure functions over an in-memory graph and have
 * their own tests below, so that a green run means "checked and clean", not "checked nothing".
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Module → the modules it imports. Modules are paths relative to `src/`, with `/`. */
type Graph = Record<string, readonly string[]>;

const srcDir = resolve(import.meta.dirname, '../src');

// ---------------------------------------------------------------------------------------------
// The layer rules
// ---------------------------------------------------------------------------------------------

/** `'*'`: everything outside the folder itself (including `src/index.ts`). */
type Forbidden = readonly string[] | '*';

interface LayerRule {
  folder: string;
  forbidden: Forbidden;
  why: string;
}

/** The wiring layers: they start and connect the parts below, so nothing below may know them. */
const wiring = ['platform', 'admin', 'cli'];

/**
 * Folder → the folders it must not import. Two reasons behind every row: code is split by the
 * process that runs it (an import across that line loads one process's code into another), and
 * lower layers must not know the wiring above them (platform/, admin/, cli/ put the parts
 * together; the parts stay usable and testable without them). Folders without a row
 * (config/, sockets/, versions/, ...) are not constrained here.
 */
const layerRules: readonly LayerRule[] = [
  {
    folder: 'shared',
    forbidden: '*',
    why: 'shared/ is what several kinds of process share; an import out of it drags one process’s code into all of them',
  },
  {
    folder: 'logs',
    forbidden: [...wiring, 'frontend'],
    why: 'the log store is fed by the front end, it must not know the front end or the wiring above it',
  },
  {
    folder: 'metering',
    forbidden: [...wiring, 'frontend'],
    why: 'metering is fed by the front end, it must not know the front end or the wiring above it',
  },
  {
    folder: 'scheduler',
    forbidden: [...wiring, 'frontend'],
    why: 'the scheduler is called by the front end (dispatch/forward seam), not the other way round; it must not know the wiring above it',
  },
  {
    folder: 'frontend',
    forbidden: wiring,
    why: 'the front end is started by the platform; it must not know the wiring above it',
  },
  {
    folder: 'instance',
    forbidden: [...wiring, 'frontend', 'scheduler', 'logs', 'metering'],
    why: 'instance/ runs inside instance processes; platform-side code there would be loaded into every instance',
  },
  {
    folder: 'knative',
    forbidden: [...wiring, 'scheduler'],
    why: "knative/ runs in a version's Knative pod (the instance runtime and the front end's per-request steps, and on the platform database its request log and meter); the platform's wiring and pools are not there",
  },
];

/** The folder a module belongs to: its first path segment, or the file itself at the root. */
function folderOf(module: string): string {
  return module.split('/')[0]!;
}

function isForbidden(rule: LayerRule, target: string): boolean {
  const folder = folderOf(target);
  return rule.forbidden === '*' ? folder !== rule.folder : rule.forbidden.includes(folder);
}

interface Violation {
  from: string;
  to: string;
  rule: LayerRule;
}

function findViolations(graph: Graph, rules: readonly LayerRule[] = layerRules): Violation[] {
  const violations: Violation[] = [];
  for (const [from, targets] of Object.entries(graph)) {
    for (const rule of rules) {
      if (folderOf(from) !== rule.folder) continue;
      for (const to of targets) if (isForbidden(rule, to)) violations.push({ from, to, rule });
    }
  }
  return violations;
}

function describeRule(rule: LayerRule): string {
  const forbidden =
    rule.forbidden === '*' ? 'anything outside it' : rule.forbidden.map((f) => `${f}/`).join(', ');
  return `${rule.folder}/ must not import ${forbidden} (${rule.why})`;
}

// ---------------------------------------------------------------------------------------------
// The cycle finder: Tarjan's strongly connected components, then one readable cycle per member
// ---------------------------------------------------------------------------------------------

/** The graph's strongly connected components that contain a cycle (size > 1, or a self-import). */
function cyclicComponents(graph: Graph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph[node] ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph[node] ?? []).includes(node)) components.push(component.sort());
  };

  for (const node of Object.keys(graph).sort()) if (!index.has(node)) visit(node);
  return components;
}

/** The shortest path `start → … → start` that stays inside `members` (breadth first). */
function shortestCycle(graph: Graph, start: string, members: ReadonlySet<string>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of graph[node] ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path: string[] = [];
        for (let at = node; at !== start; at = cameFrom.get(at)!) path.unshift(at);
        return [start, ...path, start];
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, node);
        queue.push(next);
      }
    }
  }
  throw new Error(`${start} is in a strongly connected component but on no cycle`);
}

/**
 * Every cycle worth reading: per cyclic component, a shortest cycle through each member that no
 * earlier cycle passed through. Together they cover every module caught in a cycle, without
 * enumerating the (possibly exponential) set of all cycles.
 */
function findCycles(graph: Graph): string[][] {
  const cycles: string[][] = [];
  for (const component of cyclicComponents(graph)) {
    const members = new Set(component);
    const covered = new Set<string>();
    for (const start of component) {
      if (covered.has(start)) continue;
      const cycle = shortestCycle(graph, start, members);
      for (const module of cycle) covered.add(module);
      cycles.push(cycle);
    }
  }
  return cycles;
}

// ---------------------------------------------------------------------------------------------
// Reading src/
// ---------------------------------------------------------------------------------------------

interface ImportSite {
  from: string;
  specifier: string;
  line: number;
  /** The imported module, or undefined when the specifier resolves to no non-test src/ file. */
  to: string | undefined;
}

/** `./x.js` → `./x.ts`, else `./x/index.ts`; relative to `src/`, or undefined if neither exists. */
function resolveSpecifier(from: string, specifier: string, modules: ReadonlySet<string>): string | undefined {
  const base = posix.join(posix.dirname(from), specifier).replace(/\.(js|ts)$/, '');
  return [`${base}.ts`, `${base}/index.ts`].find((candidate) => modules.has(candidate));
}

function readSourceTree(): { graph: Graph; sites: ImportSite[] } {
  const modules = new Set(
    readdirSync(srcDir, { recursive: true, encoding: 'utf8' })
      .map((path) => path.split(sep).join('/'))
      .filter((path) => path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts')),
  );
  const sites: ImportSite[] = [];
  for (const from of [...modules].sort()) {
    const text = readFileSync(join(srcDir, from), 'utf8');
    // TypeScript's own pre-processing scanner, not a regex: it finds static, type-only, export-from
    // and `import('...')` (including `typeof import('...')`) specifiers and skips comments and strings.
    for (const { fileName: specifier, pos } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue;
      const line = text.slice(0, pos).split('\n').length;
      sites.push({ from, specifier, line, to: resolveSpecifier(from, specifier, modules) });
    }
  }
  const graph: Record<string, string[]> = {};
  for (const module of [...modules].sort()) graph[module] = [];
  for (const { from, to } of sites) if (to !== undefined && !graph[from]!.includes(to)) graph[from]!.push(to);
  return { graph, sites };
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const arrow = ' → ';

describe('the cycle finder', () => {
  it('reports a two-module cycle as a path back to its start', () => {
    expect(findCycles({ 'a.ts': ['b.ts'], 'b.ts': ['a.ts'] })).toEqual([['a.ts', 'b.ts', 'a.ts']]);
  });

  it('reports a self-import', () => {
    expect(findCycles({ 'a.ts': ['a.ts'] })).toEqual([['a.ts', 'a.ts']]);
  });

  it('finds a cycle that is not reachable from the first module, and every separate cycle', () => {
    const graph = {
      'a.ts': ['b.ts'],
      'b.ts': [],
      'c.ts': ['d.ts'],
      'd.ts': ['e.ts'],
      'e.ts': ['c.ts'],
      'x.ts': ['y.ts'],
      'y.ts': ['x.ts'],
    };
    expect(findCycles(graph)).toEqual([
      ['c.ts', 'd.ts', 'e.ts', 'c.ts'],
      ['x.ts', 'y.ts', 'x.ts'],
    ]);
  });

  it('covers every module of a component made of several cycles', () => {
    // a → b → a and b → c → b share b: one component, two cycles.
    const graph = { 'a.ts': ['b.ts'], 'b.ts': ['a.ts', 'c.ts'], 'c.ts': ['b.ts'] };
    expect(findCycles(graph)).toEqual([
      ['a.ts', 'b.ts', 'a.ts'],
      ['c.ts', 'b.ts', 'c.ts'],
    ]);
  });

  it('reports nothing for a graph without cycles (a diamond)', () => {
    const graph = { 'a.ts': ['b.ts', 'c.ts'], 'b.ts': ['d.ts'], 'c.ts': ['d.ts'], 'd.ts': [] };
    expect(findCycles(graph)).toEqual([]);
  });
});

describe('the layer rules', () => {
  it('report logs/ importing frontend/, naming both files and the rule', () => {
    const violations = findViolations({ 'logs/store.ts': ['frontend/x.ts', 'shared/ids.ts'] });
    expect(violations.map(({ from, to, rule }) => [from, to, rule.folder])).toEqual([
      ['logs/store.ts', 'frontend/x.ts', 'logs'],
    ]);
  });

  it('let shared/ import only shared/ (the root index.ts included)', () => {
    const graph = { 'shared/a.ts': ['shared/b.ts', 'config/c.ts', 'index.ts'] };
    expect(findViolations(graph).map((v) => v.to)).toEqual(['config/c.ts', 'index.ts']);
  });

  it('keep platform-side folders out of instance/', () => {
    const graph = {
      'instance/main.ts': [
        'scheduler/pool.ts',
        'metering/meter.ts',
        'sockets/client/install.ts',
        'shared/ids.ts',
      ],
    };
    expect(findViolations(graph).map((v) => v.to)).toEqual(['scheduler/pool.ts', 'metering/meter.ts']);
  });

  it('allow the wiring layers to import everything below them', () => {
    const graph = {
      'platform/platform.ts': ['frontend/frontend.ts', 'logs/store.ts', 'admin/admin-server.ts'],
    };
    expect(findViolations(graph)).toEqual([]);
  });
});

describe('the import graph of src/', () => {
  const { graph, sites } = readSourceTree();
  const moduleCount = Object.keys(graph).length;
  const edgeCount = Object.values(graph).flat().length;
  const where = (from: string, to: string): string =>
    sites
      .filter((site) => site.from === from && site.to === to)
      .map((site) => `src/${from}:${site.line} '${site.specifier}'`)
      .join(', ');

  it(`was read (${moduleCount} modules, ${edgeCount} edges), every relative import resolved`, () => {
    expect(moduleCount).toBeGreaterThan(0);
    expect(edgeCount).toBeGreaterThan(0);
    const unresolved = sites
      .filter((site) => site.to === undefined)
      .map((site) => `src/${site.from}:${site.line} '${site.specifier}' resolves to no non-test src/ module`);
    expect(unresolved, unresolved.join('\n')).toEqual([]);
  });

  it('has no import cycle (type-only imports included)', () => {
    const cycles = findCycles(graph).map((cycle) => {
      const edges = cycle.slice(1).map((to, i) => where(cycle[i]!, to));
      return `${cycle.join(arrow)}\n    via ${edges.join('\n        ')}`;
    });
    expect(cycles, `import cycles in src/:\n  ${cycles.join('\n  ')}`).toEqual([]);
  });

  it('keeps every layer out of the folders above it', () => {
    const violations = findViolations(graph).map(
      ({ from, to, rule }) => `src/${from} imports src/${to} (${where(from, to)}): ${describeRule(rule)}`,
    );
    expect(violations, `layer violations in src/:\n  ${violations.join('\n  ')}`).toEqual([]);
  });
});
