/**
 * SPEC S5 step 2: a path with `.` or `..` segments is answered with a redirect to the
 * normalised path (RFC 3986 5.2.4), so that handlers, static files and logs only ever see one
 * spelling of a path. Percent-encoded dots (`%2e`, `.%2E`) count as dots, as the WHATWG URL
 * parser and browsers treat them.
 */

/**
 * The request target with its dot segments removed, or undefined when it has none (the
 * common case, decided without allocating). The query string is kept as is.
 *
 * @example
 * normalisedTarget('/a/./b/../c?x=1') // '/a/c?x=1'
 * normalisedTarget('/a/b')            // undefined
 */
export function normalisedTarget(url: string): string | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!mayHaveDotSegment(path)) return undefined;
  const segments = path.split('/');
  const out: string[] = [];
  let changed = false;
  // segments[0] is the empty string before the leading '/'.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    const dots = dotCount(segment);
    if (dots === 0) {
      out.push(segment);
      continue;
    }
    changed = true;
    if (dots === 2) out.pop();
    // `/a/.` and `/a/b/..` name a directory: keep the trailing slash.
    if (last) out.push('');
  }
  if (!changed) return undefined;
  return `/${out.join('/')}${q === -1 ? '' : url.slice(q)}`;
}

function mayHaveDotSegment(path: string): boolean {
  return path.includes('/.') || path.includes('%2e') || path.includes('%2E');
}

/** 1 for `.`, 2 for `..` (either possibly percent-encoded), else 0. */
function dotCount(segment: string): number {
  if (segment.length === 0 || segment.length > 6) return 0;
  const decoded = segment.replace(/%2e/gi, '.');
  return decoded === '.' ? 1 : decoded === '..' ? 2 : 0;
}
