/**
 * Where a backtracking matcher can take more than linear time on a position automaton
 * (pattern-automaton.ts), by the two classic criteria for the ambiguity of an automaton
 * (Weber & Seidl 1991; Allauzen, Mohri & Rastogi 2008), which bound a backtracking matcher's
 * work on a failing input (Weideman et al. 2016):
 *
 * - exponential: a state with two different cycles reading the same text, as in `(a+)+` or
 *   `(a|a)*`: each repetition doubles the ways the matcher tries;
 * - polynomial: two different states p and q and a text v that leads p to p, p to q and q to
 *   q, as in `.*-.*x`: the split between the two loops can be anywhere, n² ways for n × v.
 *
 * Without either, the ways the matcher can read any prefix of the input are bounded by a
 * constant, so its work grows linearly with the input.
 */
import type { AST } from '@eslint-community/regexpp';
import { type CharRanges, intersect, partition, sampleChar } from './char-ranges.js';
import { type Edge, PatternTooLarge, type PositionAutomaton } from './pattern-automaton.js';

export interface Ambiguity {
  kind: 'exponential' | 'polynomial';
  /** Repeats to blame, outermost first. */
  loops: AST.Quantifier[];
  /** A slow input: `prefix`, then `pump` many times (then a character that fails the match). */
  example: { prefix: string; pump: string };
}

/** States of the automaton's square and cube visited at most, over all searches. */
const MAX_PRODUCT_STATES = 250_000;

/** The first exponential ambiguity, else the first polynomial one, else undefined. */
export function findAmbiguity(automaton: PositionAutomaton): Ambiguity | undefined {
  const search = new Search(automaton);
  // polynomial() relies on there being no exponential ambiguity.
  return search.exponential() ?? search.polynomial();
}

/** A step in the square: one edge of the automaton for each of the two tracks. */
interface PairStep {
  to: number;
  edges: [Edge, Edge];
}

class Search {
  readonly n: number;
  /** The positions' character sets as bit masks over a partition of the alphabet. */
  readonly #masks: Uint32Array[];
  #budget = MAX_PRODUCT_STATES;

  constructor(readonly a: PositionAutomaton) {
    this.n = a.positions.length;
    this.#masks = partition(a.positions.map((p) => p.chars));
  }

  /** Whether the positions (two or three) can read a common character. */
  meet(...positions: number[]): boolean {
    const [first, ...rest] = positions.map((p) => this.#masks[p]!);
    for (let w = 0; w < first!.length; w++) {
      let word = first![w]!;
      for (const m of rest) word &= m[w]!;
      if (word !== 0) return true;
    }
    return false;
  }

  /** A character the positions can all read, for examples. */
  sample(...positions: number[]): string {
    return sampleChar(
      positions.map((p) => this.a.positions[p]!.chars).reduce((x, y) => intersect(x, y)) as CharRanges,
    );
  }

  visit(): void {
    if (--this.#budget < 0) throw new PatternTooLarge();
  }

  pairSteps(k: number): PairStep[] {
    const [p, q] = [Math.floor(k / this.n), k % this.n];
    const steps: PairStep[] = [];
    for (const e1 of this.a.edges[p]!) {
      for (const e2 of this.a.edges[q]!) {
        if (this.meet(e1.to, e2.to)) steps.push({ to: e1.to * this.n + e2.to, edges: [e1, e2] });
      }
    }
    return steps;
  }

  /**
   * A component of the square holding a diagonal state (p, p) and a step along two different
   * edges: two different cycles at p reading the same text.
   */
  exponential(): Ambiguity | undefined {
    const n = this.n;
    const component = components(0, (k) => {
      this.visit();
      return this.pairSteps(k);
    });
    const diagonals = new Map<number, number>();
    for (const [k, c] of component) if (Math.floor(k / n) === k % n) diagonals.set(c, k);
    for (const [from, c] of component) {
      const diagonal = diagonals.get(c);
      if (diagonal === undefined) continue;
      const split = this.pairSteps(from).find((s) => s.edges[0] !== s.edges[1] && component.get(s.to) === c);
      if (!split) continue;
      const within = (s: PairStep) => component.get(s.to) === c;
      const cycle = [
        ...shortestPath(diagonal, from, (k) => this.pairSteps(k).filter(within)),
        split,
        ...shortestPath(split.to, diagonal, (k) => this.pairSteps(k).filter(within)),
      ];
      const p = Math.floor(diagonal / n);
      const loops = new Set(this.a.positions[p]!.loops);
      for (const [k, kc] of component) {
        if (kc !== c) continue;
        for (const s of this.pairSteps(k).filter(within))
          for (const e of s.edges) for (const l of e.loops) loops.add(l);
      }
      return {
        kind: 'exponential',
        loops: outermostFirst([...loops]),
        example: {
          prefix: this.prefixTo(p),
          pump: cycle.map((s) => this.sample(Math.floor(s.to / n), s.to % n)).join(''),
        },
      };
    }
    return undefined;
  }

  /**
   * States p ≠ q on cycles with a text v from p to p, p to q and q to q. Without exponential
   * ambiguity they lie in different components: were there also a way back from q to p (text
   * w), p would have two cycles reading v·v·w, one through p, one through q.
   */
  polynomial(): Ambiguity | undefined {
    const { a } = this;
    const component = components(0, (p) => a.edges[p]!);
    const sizes = new Map<number, number>();
    for (const c of component.values()) sizes.set(c, (sizes.get(c) ?? 0) + 1);
    const onCycle = (p: number) => sizes.get(component.get(p)!)! > 1 || a.edges[p]!.some((e) => e.to === p);
    const loopStates = [...component.keys()].filter((p) => p > 0 && onCycle(p));
    const reaches = a.positions.map((_, p) => reachable(a, p));
    const inside = a.edges.map((out, p) => out.filter((e) => component.get(e.to) === component.get(p)));
    for (const p of loopStates) {
      for (const q of loopStates) {
        if (component.get(p) === component.get(q) || !reaches[p]!.has(q)) continue;
        const pump = this.#tradedText(p, q, reaches, inside);
        if (pump === undefined) continue;
        const blame = [a.positions[p]!.loops.at(-1), a.positions[q]!.loops.at(-1)];
        return {
          kind: 'polynomial',
          loops: outermostFirst([...new Set(blame.filter((l) => l !== undefined))]),
          example: { prefix: this.prefixTo(p), pump },
        };
      }
    }
    return undefined;
  }

  /**
   * A text v taking p to p, p to q and q to q: a way from (p, p, q) to (p, q, q) in the cube.
   * The first and last tracks must return to p and to q, so they stay inside their component.
   */
  #tradedText(p: number, q: number, reaches: Set<number>[], inside: Edge[][]): string | undefined {
    const n = this.n;
    const key = (x: number, y: number, z: number) => (x * n + y) * n + z;
    const goal = key(p, q, q);
    const steps = (k: number) => {
      this.visit();
      const [x, y, z] = [Math.floor(k / n / n), Math.floor(k / n) % n, k % n];
      const out: { to: number }[] = [];
      for (const e1 of inside[x]!) {
        for (const e3 of inside[z]!) {
          if (!this.meet(e1.to, e3.to)) continue;
          for (const e2 of this.a.edges[y]!) {
            if ((e2.to === q || reaches[e2.to]!.has(q)) && this.meet(e1.to, e2.to, e3.to)) {
              out.push({ to: key(e1.to, e2.to, e3.to) });
            }
          }
        }
      }
      return out;
    };
    const path = shortestPath(key(p, p, q), goal, steps);
    if (path.length === 0) return undefined;
    return path
      .map((s) => this.sample(Math.floor(s.to / n / n), Math.floor(s.to / n) % n, s.to % n))
      .join('');
  }

  /** Sample text of a shortest way from the start state to `to`. */
  prefixTo(to: number): string {
    const path = shortestPath(0, to, (p) => this.a.edges[p]!);
    return path.map((e) => this.sample(e.to)).join('');
  }
}

/** The steps of a shortest way from `from` to `to`: none when they are the same, or when there is no way. */
function shortestPath<S extends { to: number }>(from: number, to: number, steps: (k: number) => S[]): S[] {
  if (from === to) return [];
  const parents = new Map<number, { prev: number; step: S }>();
  const queue = [from];
  for (let i = 0; i < queue.length && !parents.has(to); i++) {
    for (const step of steps(queue[i]!)) {
      if (parents.has(step.to)) continue;
      parents.set(step.to, { prev: queue[i]!, step });
      queue.push(step.to);
    }
  }
  if (!parents.has(to)) return [];
  const path: S[] = [];
  for (let k = to; ; ) {
    const { prev, step } = parents.get(k)!;
    path.unshift(step);
    if (prev === from) break;
    k = prev;
  }
  return path;
}

/**
 * Strongly connected components of what is reachable from `root` (Tarjan, iterative, each
 * node's steps asked for once): node → component id.
 */
function components(root: number, steps: (k: number) => readonly { to: number }[]): Map<number, number> {
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const component = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  const work: { node: number; out: readonly { to: number }[]; next: number }[] = [];
  const enter = (node: number) => {
    index.set(node, index.size);
    low.set(node, index.size - 1);
    stack.push(node);
    onStack.add(node);
    work.push({ node, out: steps(node), next: 0 });
  };
  enter(root);
  while (work.length > 0) {
    const frame = work[work.length - 1]!;
    if (frame.next < frame.out.length) {
      const to = frame.out[frame.next++]!.to;
      if (!index.has(to)) enter(to);
      else if (onStack.has(to)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
      continue;
    }
    work.pop();
    const parent = work[work.length - 1];
    if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
    if (low.get(frame.node) !== index.get(frame.node)) continue;
    let member: number;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.set(member, frame.node);
    } while (member !== frame.node);
  }
  return component;
}

function reachable(a: PositionAutomaton, from: number): Set<number> {
  const seen = new Set<number>();
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    for (const e of a.edges[queue[i]!]!) {
      if (seen.has(e.to)) continue;
      seen.add(e.to);
      queue.push(e.to);
    }
  }
  return seen;
}

function outermostFirst(loops: AST.Quantifier[]): AST.Quantifier[] {
  return loops.sort((x, y) => x.start - y.start || y.end - x.end);
}
