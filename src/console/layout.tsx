/**
 * The signed-in frame: the header with the navigation (the current page marked with
 * aria-current) and sign-out, and the page's content in `main`.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { href, type Page } from './router.js';

const LINKS: Array<{ page: Page; label: string; serveOnly?: boolean }> = [
  { page: 'dashboard', label: 'Dashboard' },
  { page: 'logs', label: 'Logs' },
  { page: 'instances', label: 'Instances' },
  { page: 'versions', label: 'Versions', serveOnly: true },
  { page: 'quotas', label: 'Quotas' },
  { page: 'sockets', label: 'Sockets' },
];

export function Layout(props: {
  page: Page;
  mode: 'dev' | 'serve';
  onSignOut: () => Promise<void>;
  children: ComponentChildren;
}) {
  const [error, setError] = useState<string>();
  return (
    <>
      {/* A button, not a link to #main: the hash is the route. */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">
          Hangar <span class="mode">{props.mode}</span>
        </span>
        <nav id="nav" aria-label="Console">
          <ul>
            {LINKS.filter((l) => !l.serveOnly || props.mode === 'serve').map((l) => (
              <li key={l.page}>
                <a href={href(l.page)} aria-current={l.page === props.page ? 'page' : undefined}>
                  {l.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          id="sign-out"
          type="button"
          onClick={() => {
            setError(undefined);
            props.onSignOut().catch((err: Error) => setError(`Not signed out: ${err.message}`));
          }}
        >
          Sign out
        </button>
      </header>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}
