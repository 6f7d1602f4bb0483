/**
 * Hash routes (`#/dashboard`, `#/logs`, `#/logs/<request id>`, ...): the admin port serves one
 * page, so navigation never asks the server for another document, and a link to a request's log
 * entry works when pasted into another tab.
 */
import { useEffect, useState } from 'preact/hooks';

export const PAGES = ['dashboard', 'logs', 'instances', 'versions', 'quotas', 'sockets'] as const;
export type Page = (typeof PAGES)[number];

export interface Route {
  page: Page;
  /** What follows the page: the request id of `#/logs/<id>`. */
  param?: string;
}

/**
 * The route of a location hash; anything unknown is the dashboard.
 *
 * @example
 * parseRoute('#/logs/0193abcd') // { page: 'logs', param: '0193abcd' }
 */
export function parseRoute(hash: string): Route {
  const [page, ...rest] = hash.replace(/^#\/?/, '').split('/');
  if (!(PAGES as readonly string[]).includes(page ?? '')) return { page: 'dashboard' };
  const param = rest.join('/');
  return param ? { page: page as Page, param: decodeURIComponent(param) } : { page: page as Page };
}

/** The current route, updated on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** The href of a route. */
export function href(page: Page, param?: string): string {
  return param ? `#/${page}/${encodeURIComponent(param)}` : `#/${page}`;
}
