/**
 * Patterns that a request can make slow are refused when the config is read: handler `url`
 * and `upload` patterns (and dispatch.yaml's, through the same function) run on V8's
 * backtracking RegExp on the front end's event loop, where `(a+)+b` against a 30-character
 * path blocked every app for seconds. V8's matcher stays (re2js, a linear-time engine, was
 * 5-30× slower per match on ordinary patterns; docs/decisions.md "Linear-time url
 * matching"); what it is given is checked first:
 *
 * - backreferences and lookarounds are refused outright;
 * - the pattern's position automaton must be finitely ambiguous (backtracking.ts): no
 *   repetition of something that can match the same text two ways (`(a+)+`, `(a|a)*`) and
 *   no two repetitions that can trade the same text (`.*-.*x`). Then a matcher's work is
 *   linear in the path's length: a hostile path costs microseconds.
 *
 * @example
 * patternProblem({ text: '/(a+)+b', source: '^(?:/(a+)+b)$', offset: 4 })?.message
 * // "'(a+)+' (characters 2-6) repeats 'a+', which can already match the same text, so a
 * //  path such as '/aaaaaaaaaaaaaaa…' that fails to match at its end takes exponential time"
 */
import { type AST, RegExpParser, visitRegExpAST } from '@eslint-community/regexpp';
import { type Ambiguity, findAmbiguity } from './backtracking.js';
import { ALL_CHARS, PATH_CHARS } from './char-ranges.js';
import { buildAutomaton, PatternTooLarge } from './pattern-automaton.js';

/** What the pattern is matched against: a request path (no line breaks), or any text. */
export type PatternInput = 'path' | 'any';

/** A pattern as written, inside the source that is compiled. */
export interface CheckedPattern {
  /** As written in the config file, e.g. `/(a+)+b`. */
  text: string;
  /** The regular expression source that will run, holding `text` at `offset`. */
  source: string;
  offset: number;
  /** How messages name what the source adds after `text`, e.g. `the path that static_dir adds`. */
  added?: string;
  /** Default `path`. */
  input?: PatternInput;
}

export interface PatternProblem {
  message: string;
  fix: string;
}

/** Why `pattern` may not run on the front end, with a fix; undefined when it is safe. */
export function patternProblem(pattern: CheckedPattern): PatternProblem | undefined {
  let ast: AST.Pattern;
  try {
    ast = new RegExpParser({ ecmaVersion: 2025 }).parsePattern(pattern.source, 0, pattern.source.length, {
      unicode: false,
    });
  } catch (err) {
    return {
      message: `'${pattern.text}' could not be checked for slow matching: ${err instanceof Error ? err.message : err}`,
      fix: 'simplify the pattern to groups, character classes, alternation and quantifiers',
    };
  }
  const name = (node: AST.Node) => where(pattern, node);
  const refused = refusedSyntax(ast);
  if (refused?.type === 'Backreference') {
    return {
      message: `${name(refused)} is a backreference, which can make matching take exponential time`,
      fix: 'remove it; a pattern cannot refer back to its own groups (\\1 belongs in static_files, which fills it from the url)',
    };
  }
  if (refused) {
    const kind = `${refused.negate ? 'negative ' : ''}${refused.kind}`;
    return {
      message: `${name(refused)} is a ${kind}, which is not allowed: lookarounds can make matching take more than linear time`,
      fix: 'remove it; match with groups, character classes and alternation, and check the rest in the app',
    };
  }
  let ambiguity: Ambiguity | undefined;
  try {
    ambiguity = findAmbiguity(buildAutomaton(ast, pattern.input === 'any' ? ALL_CHARS : PATH_CHARS));
  } catch (err) {
    if (!(err instanceof PatternTooLarge)) throw err;
    return {
      message: `'${pattern.text}' is too large to check for slow matching`,
      fix: 'shorten it, or write long counted repeats such as {1,500} as + or *',
    };
  }
  if (ambiguity === undefined) return undefined;
  const path = `a path such as '${sample(ambiguity.example)}' that fails to match at its end`;
  const [outer, inner] = ambiguity.loops;
  if (ambiguity.kind === 'exponential') {
    const what = inner
      ? `${name(outer!)} repeats '${inner.raw}', which can already match the same text`
      : `${name(outer!)} repeats a part that can match the same text in more than one way`;
    return {
      message: `${what}, so ${path} takes exponential time`,
      fix: 'write the repetition once, e.g. (a+)+ as a+ and (a|ab)* as (ab?)*; a repeated part that ends in a separator is fine: ([^/]+/)*',
    };
  }
  const what = inner
    ? `${name(outer!)} and ${name(inner)} can match the same text`
    : `${name(outer!)} can match the same text in more than one way`;
  return {
    message: `${what}, so ${path} takes quadratic time or worse`,
    fix: 'let only one of them match the shared characters, e.g. [^/]* instead of .* for one path segment, or merge them into one',
  };
}

/** The first backreference or lookaround, in source order. */
function refusedSyntax(ast: AST.Pattern): AST.Backreference | AST.LookaroundAssertion | undefined {
  let found: AST.Backreference | AST.LookaroundAssertion | undefined;
  const keep = (node: AST.Backreference | AST.LookaroundAssertion) => {
    if (!found || node.start < found.start) found = node;
  };
  visitRegExpAST(ast, {
    onBackreferenceEnter: keep,
    onAssertionEnter: (node) => {
      if (node.kind === 'lookahead' || node.kind === 'lookbehind') keep(node);
    },
  });
  return found;
}

/** `'(a+)+' (characters 2-6)`, counted in the text as written. */
function where(pattern: CheckedPattern, node: AST.Node): string {
  const start = node.start - pattern.offset;
  const end = node.end - pattern.offset;
  if (start < 0 || end > pattern.text.length) {
    return `'${node.raw}' in ${pattern.added ?? 'what is added around the pattern'}`;
  }
  return `'${node.raw}' (${end - start === 1 ? `character ${start + 1}` : `characters ${start + 1}-${end}`})`;
}

/** The slow input, shortened: the prefix, the repeated part a few times, then `…`. */
function sample({ prefix, pump }: Ambiguity['example']): string {
  const times = Math.max(3, Math.ceil(12 / Math.max(pump.length, 1)));
  return `${prefix}${pump.repeat(times)}…`;
}
