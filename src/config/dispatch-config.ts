/**
 * dispatch.yaml (S11): up to 20 rules that send requests to services by host and path, first
 * match wins, as App Engine's:
 *
 * ```yaml
 * dispatch:
 *   - url: "*\/api/*"        # any host, paths under /api/
 *     service: api
 *   - url: "admin.example.com/*"
 *     service: admin
 * ```
 *
 * A `url` is `HOST/PATH`. The host is a name, `*` (any host), or `*` followed by the end of
 * names (`*.example.com`: its subdomains; `*example.com`: any name ending so). The path is
 * exact, or a prefix when it ends with `*`. No other `*` is allowed. Errors name the file,
 * line and column, like app.yaml's.
 */
import { nameSchema } from './app-names.js';
import { ConfigError, type ConfigIssue, sortIssues } from './issues.js';
import { splitProblem } from './schema-kit.js';
import { parseYaml, readYamlSource, type YamlSource } from './yaml-source.js';

const serviceNameSchema = nameSchema('service');

/** App Engine's limits. */
export const MAX_DISPATCH_RULES = 20;
const MAX_URL_CHARS = 100;

export interface DispatchRule {
  /** As written. */
  url: string;
  service: string;
  /** Lower case, without `*`; `hostPrefix`: the host ends with it (a leading `*`). */
  host: { any: true } | { any: false; exact: string } | { any: false; endsWith: string };
  path: { exact: string } | { prefix: string };
}

/**
 * Parses dispatch.yaml's text. Throws ConfigError with every problem found.
 *
 * @example
 * parseDispatch('dispatch:\n  - url: "*\/api/*"\n    service: api\n', 'dispatch.yaml')
 * // [{ url: '*\/api/*', service: 'api', host: { any: true }, path: { prefix: '/api/' } }]
 */
export function parseDispatch(text: string, file: string): DispatchRule[] {
  return rulesFrom(parseYaml(text, file));
}

export async function loadDispatch(file: string): Promise<DispatchRule[]> {
  return rulesFrom(await readYamlSource(file));
}

function rulesFrom(source: YamlSource): DispatchRule[] {
  if (source.errors.length > 0) throw new ConfigError(sortIssues(source.errors));
  const issues: ConfigIssue[] = [];
  const doc = source.value as { dispatch?: unknown } | null | undefined;
  const example = 'write dispatch: followed by a list of "- url: HOST/PATH" and "service: NAME" entries';
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError([
      source.issue([], 'dispatch.yaml must be a mapping with a dispatch: list', example),
    ]);
  }
  for (const key of Object.keys(doc)) {
    if (key !== 'dispatch')
      issues.push(source.issue([key], `unknown key '${key}'`, 'dispatch.yaml has only dispatch:'));
  }
  const list = doc.dispatch;
  if (!Array.isArray(list)) {
    issues.push(
      source.issue(
        ['dispatch'],
        list === undefined ? 'dispatch: is required' : 'dispatch: must be a list',
        example,
      ),
    );
    throw new ConfigError(sortIssues(issues));
  }
  if (list.length > MAX_DISPATCH_RULES) {
    issues.push(
      source.issue(
        ['dispatch', MAX_DISPATCH_RULES],
        `dispatch: has ${list.length} rules; at most ${MAX_DISPATCH_RULES}`,
        'merge rules with wildcards (*/api/* instead of one rule per path), or route inside a service',
      ),
    );
  }
  const rules: DispatchRule[] = [];
  list.forEach((entry: unknown, i: number) => {
    const at = ['dispatch', i];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push(source.issue(at, 'each rule must be a mapping with url: and service:', example));
      return;
    }
    const { url, service, ...rest } = entry as Record<string, unknown>;
    for (const key of Object.keys(rest)) {
      issues.push(source.issue([...at, key], `unknown key '${key}'`, 'a rule has only url: and service:'));
    }
    let validService: string | undefined;
    if (typeof service !== 'string') {
      issues.push(
        source.issue(
          [...at, 'service'],
          service === undefined ? 'service: is required' : 'service: must be a name',
          'name the service, e.g. service: api',
        ),
      );
    } else {
      const checked = serviceNameSchema.safeParse(service);
      if (checked.success) validService = service;
      else {
        const { message, fix } = splitProblem(
          checked.error.issues[0]?.message ?? `'${service}' is not a service name`,
        );
        issues.push(
          source.issue(
            [...at, 'service'],
            message,
            fix ?? "use the service: name of that service's app.yaml",
          ),
        );
      }
    }
    const parsed = typeof url === 'string' ? parseUrlPattern(url) : 'url: is required, as HOST/PATH';
    if (typeof parsed === 'string') {
      issues.push(
        source.issue([...at, 'url'], parsed, 'write url: "HOST/PATH", e.g. "*/api/*" or "www.example.com/*"'),
      );
      return;
    }
    if (validService !== undefined) rules.push({ url: url as string, service: validService, ...parsed });
  });
  if (issues.length > 0) throw new ConfigError(sortIssues(issues));
  return rules;
}

/** A `url` pattern's host and path, or what is wrong with it. */
export function parseUrlPattern(url: string): Pick<DispatchRule, 'host' | 'path'> | string {
  if (url.length > MAX_URL_CHARS) return `url: has ${url.length} characters; at most ${MAX_URL_CHARS}`;
  const slash = url.indexOf('/');
  if (slash === -1) return `url: '${url}' has no path; it is HOST/PATH`;
  const hostPart = url.slice(0, slash).toLowerCase();
  const pathPart = url.slice(slash);
  if (/^[a-z][a-z0-9+.-]*:/.test(url)) return `url: '${url}' has a scheme; leave out http:// or https://`;
  if (hostPart.slice(1).includes('*')) return `url: '${url}': * may only start the host`;
  if (pathPart.slice(0, -1).includes('*')) return `url: '${url}': * may only end the path`;
  if (hostPart !== '*' && hostPart.length > 0 && !/^\*?[a-z0-9.-]+$/.test(hostPart))
    return `url: '${url}': '${hostPart}' is not a host name`;
  const host: DispatchRule['host'] =
    hostPart === '*' || hostPart === ''
      ? { any: true }
      : hostPart.startsWith('*')
        ? { any: false, endsWith: hostPart.slice(1) }
        : { any: false, exact: hostPart };
  if (hostPart === '') return `url: '${url}' has no host; write * for any host ("*${pathPart}")`;
  const path: DispatchRule['path'] = pathPart.endsWith('*')
    ? { prefix: pathPart.slice(0, -1) }
    : { exact: pathPart };
  return { host, path };
}

/**
 * The service the first rule matching `host` (port ignored, any case) and `path` names;
 * undefined when none matches.
 *
 * @example
 * dispatchService(rules, 'shop.localhost:8080', '/api/items') // 'api'
 */
export function dispatchService(
  rules: readonly DispatchRule[],
  host: string,
  path: string,
): string | undefined {
  const name = hostName(host);
  for (const rule of rules) {
    if (!hostMatches(rule.host, name)) continue;
    if ('exact' in rule.path ? path === rule.path.exact : path.startsWith(rule.path.prefix))
      return rule.service;
  }
  return undefined;
}

function hostMatches(pattern: DispatchRule['host'], host: string): boolean {
  if (pattern.any) return true;
  return 'exact' in pattern ? host === pattern.exact : host.endsWith(pattern.endsWith);
}

/** `Host` without its port, lower case (`[::1]:8080` → `[::1]`). */
function hostName(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}
