/**
 * The paths a backtracking matcher (V8's irregexp) can take through a pattern, as an automaton
 * whose states are the pattern's one-character elements (a position automaton). Two ways of
 * getting from one element to the next (`(a|a)`, the two loops of `(a+)+`) are two edges, so
 * the automaton is ambiguous exactly where the matcher has more than one way to try: that is
 * what safe-pattern.ts looks for. See docs/decisions.md "Linear-time url matching".
 *
 * Modelled as V8 runs it: a loop iteration that consumed nothing ends the loop (ECMAScript's
 * empty check). Where the model differs, it has more paths than V8, so the check only gets
 * stricter: counted repeats `x{m,n}` are read as loops `x{m,}` (see `quantifier`), and
 * assertions other than lookarounds are ignored. Backreferences and lookarounds are refused
 * before this runs.
 */
import type { AST } from '@eslint-community/regexpp';
import { type CharFlags, type CharRanges, covers, elementChars, intersect } from './char-ranges.js';

/** A state: the start, or one one-character element of the pattern. */
export interface Position {
  /** Empty for the start state. */
  chars: CharRanges;
  /** The element (undefined for the start state). */
  element?: AST.Character | AST.CharacterClass | AST.CharacterSet;
  /** The unbounded repeats around the element, outermost first. */
  loops: readonly AST.Quantifier[];
}

/** One way from a state to the next: the repeats whose iteration it ends and starts again. */
export interface Edge {
  to: number;
  loops: readonly AST.Quantifier[];
}

export interface PositionAutomaton {
  /** Index 0 is the start state. */
  positions: Position[];
  /** Out-edges per state; two distinct ways to the same state are two edges. */
  edges: Edge[][];
}

/** The pattern is too large for the check: too many positions or ways between them. */
export class PatternTooLarge extends Error {}

const MAX_POSITIONS = 400;
const MAX_WALK_STEPS = 200_000;
/** Copies of a counted repeat made at most; beyond, the rest is read as a loop. */
const MAX_UNROLLED_COUNT = 64;

type GraphNode =
  | { kind: 'char'; position: number; next: number; exact: boolean; ownLoop?: number }
  | { kind: 'split'; next: number[] }
  | { kind: 'loop'; quantifier: AST.Quantifier; body: number; exit: number }
  | { kind: 'back'; loop: number }
  | { kind: 'assert'; end: boolean; next: number }
  | { kind: 'accept' };

interface Context {
  flags: CharFlags;
  loops: readonly AST.Quantifier[];
  /** False inside a counted repeat read as a loop: there the model has ways V8 has not. */
  exact: boolean;
}

/**
 * Builds the automaton of `pattern` for inputs over `alphabet`. A greedy `.*`-like loop that
 * takes every character of the alphabet and can end the match is left out: once the matcher
 * reaches it, the match succeeds without backtracking, so it adds no cost. (Only where the
 * model is exact: in `(?:.*){0,3}` V8's count can still make the match fail.)
 */
export function buildAutomaton(pattern: AST.Pattern, alphabet: CharRanges): PositionAutomaton {
  const graph = new Graph(alphabet);
  const entry = graph.alternatives(pattern.alternatives, graph.add({ kind: 'accept' }), {
    flags: { ignoreCase: false, dotAll: false },
    loops: [],
    exact: true,
  });
  return graph.automaton(entry);
}

class Graph {
  readonly nodes: GraphNode[] = [];
  readonly positions: Position[] = [{ chars: [], loops: [] }];
  #steps = 0;

  constructor(readonly alphabet: CharRanges) {}

  add(node: GraphNode): number {
    this.nodes.push(node);
    return this.nodes.length - 1;
  }

  alternatives(alternatives: readonly AST.Alternative[], next: number, ctx: Context): number {
    const entries = alternatives.map((alt) => this.sequence(alt.elements, next, ctx));
    return entries.length === 1 ? entries[0]! : this.add({ kind: 'split', next: entries });
  }

  sequence(elements: readonly AST.Element[], next: number, ctx: Context): number {
    let entry = next;
    for (let i = elements.length - 1; i >= 0; i--) entry = this.element(elements[i]!, entry, ctx);
    return entry;
  }

  element(el: AST.Element, next: number, ctx: Context): number {
    switch (el.type) {
      case 'Character':
      case 'CharacterClass':
      case 'CharacterSet': {
        if (this.positions.length > MAX_POSITIONS) throw new PatternTooLarge();
        const chars = intersect(elementChars(el, ctx.flags), this.alphabet);
        this.positions.push({ chars, element: el, loops: ctx.loops });
        return this.add({ kind: 'char', position: this.positions.length - 1, next, exact: ctx.exact });
      }
      case 'Group':
        return this.alternatives(el.alternatives, next, { ...ctx, flags: withModifiers(ctx.flags, el) });
      case 'CapturingGroup':
        return this.alternatives(el.alternatives, next, ctx);
      case 'Quantifier':
        return this.quantifier(el, next, ctx);
      case 'Assertion':
        if (el.kind === 'lookahead' || el.kind === 'lookbehind')
          throw new Error('lookarounds are refused first');
        return this.add({ kind: 'assert', end: el.kind === 'end', next });
      case 'Backreference':
        throw new Error('backreferences are refused first');
      case 'ExpressionCharacterClass':
        throw new Error('class expressions need the v flag, which patterns never carry');
    }
  }

  /**
   * `x?` is a choice of two ways, and `x{n}` of a fixed `x` (no choice inside) n copies, as
   * V8 counts them. Every other count is read as a loop, `x{m,n}` as `x{m,}`, and when `x`
   * has choices inside as `x{1,}`: that has every way of the original and more, so nested
   * counts such as `(?:.{0,16}){0,16}`, finite but astronomically ambiguous, are refused.
   */
  quantifier(q: AST.Quantifier, next: number, ctx: Context): number {
    const fixed = !hasChoice(q.element);
    if (q.max <= 1 || (fixed && q.min === q.max && q.max <= MAX_UNROLLED_COUNT)) {
      let entry = next;
      if (q.max > q.min)
        entry = this.add({ kind: 'split', next: [this.element(q.element, next, ctx), next] });
      for (let k = 0; k < q.min; k++) entry = this.element(q.element, entry, ctx);
      return entry;
    }
    const copies = Math.min(q.min, fixed ? MAX_UNROLLED_COUNT : 1);
    const inner = { ...ctx, exact: ctx.exact && q.max === Number.POSITIVE_INFINITY && copies === q.min };
    const loop = this.add({ kind: 'loop', quantifier: q, body: -1, exit: next });
    const back = this.add({ kind: 'back', loop });
    const body = this.element(q.element, back, { ...inner, loops: [...ctx.loops, q] });
    const node = this.nodes[loop]!;
    if (node.kind === 'loop') node.body = body;
    const first = this.nodes[body]!;
    if (first.kind === 'char' && first.next === back) first.ownLoop = loop;
    let entry = loop;
    for (let k = 0; k < copies; k++) entry = this.element(q.element, entry, inner);
    return entry;
  }

  /**
   * Every way from `start` to the next one-character element without consuming anything,
   * with the loops whose iteration ended on the way. `entered` holds the loops whose body was
   * entered on this way: reaching their end again would be an empty iteration, which V8 ends.
   */
  walk(start: number, visit: (node: GraphNode, loops: readonly AST.Quantifier[]) => boolean): void {
    const go = (id: number, entered: readonly number[], loops: readonly AST.Quantifier[]): void => {
      if (++this.#steps > MAX_WALK_STEPS) throw new PatternTooLarge();
      const node = this.nodes[id]!;
      if (!visit(node, loops)) return;
      switch (node.kind) {
        case 'split':
          for (const next of node.next) go(next, entered, loops);
          return;
        case 'assert':
          go(node.next, entered, loops);
          return;
        case 'loop':
          go(node.body, [...entered, id], loops);
          go(node.exit, entered, loops);
          return;
        case 'back': {
          if (entered.includes(node.loop)) return;
          const loop = this.nodes[node.loop]!;
          go(node.loop, entered, loop.kind === 'loop' ? [...loops, loop.quantifier] : loops);
          return;
        }
        default:
          return;
      }
    };
    go(start, [], []);
  }

  /** Whether the match can end from `start` at the end of the input (only `$` on the way). */
  endsFrom(start: number): boolean {
    let ends = false;
    this.walk(start, (node) => {
      if (node.kind === 'accept') ends = true;
      return !ends && node.kind !== 'char' && !(node.kind === 'assert' && !node.end);
    });
    return ends;
  }

  automaton(entry: number): PositionAutomaton {
    const charNodes = new Map<number, Extract<GraphNode, { kind: 'char' }>>();
    for (const node of this.nodes) if (node.kind === 'char') charNodes.set(node.position, node);
    const absorbing = new Set<number>();
    for (const [position, node] of charNodes) {
      const loop = node.ownLoop === undefined ? undefined : this.nodes[node.ownLoop];
      if (loop?.kind !== 'loop' || !loop.quantifier.greedy || !node.exact) continue;
      if (covers(this.positions[position]!.chars, this.alphabet) && this.endsFrom(loop.exit)) {
        absorbing.add(position);
      }
    }
    const edgesFrom = (start: number): Edge[] => {
      const edges: Edge[] = [];
      this.walk(start, (node, loops) => {
        if (node.kind !== 'char') return true;
        const usable = !absorbing.has(node.position) && this.positions[node.position]!.chars.length > 0;
        if (usable) edges.push({ to: node.position, loops });
        return false;
      });
      return edges;
    };
    const edges = this.positions.map((_, position) =>
      position === 0 ? edgesFrom(entry) : edgesFrom(charNodes.get(position)!.next),
    );
    return { positions: this.positions, edges };
  }
}

/** Whether the matcher has a choice to make inside `element`: a variable count or an alternation. */
function hasChoice(element: AST.Node): boolean {
  switch (element.type) {
    case 'Quantifier':
      return element.min !== element.max || hasChoice(element.element);
    case 'Group':
    case 'CapturingGroup':
      return (
        element.alternatives.length > 1 || element.alternatives.some((alt) => alt.elements.some(hasChoice))
      );
    default:
      return false;
  }
}

function withModifiers(flags: CharFlags, group: AST.Group): CharFlags {
  const { add, remove } = group.modifiers ?? {};
  return {
    ignoreCase: remove?.ignoreCase ? false : add?.ignoreCase ? true : flags.ignoreCase,
    dotAll: remove?.dotAll ? false : add?.dotAll ? true : flags.dotAll,
  };
}
