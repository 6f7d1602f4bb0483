/**
 * The console: asks `GET /console/session` whether the browser is signed in, shows the sign-in
 * form or the page of the hash route, and goes back to the sign-in form whenever the API answers
 * 401 (the session expired or was signed out elsewhere).
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, getSession, onUnauthorized, setCsrf, signOut } from './api.js';
import { ErrorBox } from './components.js';
import { Layout } from './layout.js';
import { DashboardPage } from './pages/dashboard.js';
import { InstancesPage } from './pages/instances.js';
import { LogsPage } from './pages/logs.js';
import { QuotasPage } from './pages/quotas.js';
import { SignInPage } from './pages/sign-in.js';
import { SocketsPage } from './pages/sockets.js';
import { VersionsPage } from './pages/versions.js';
import { type Route, useRoute } from './router.js';
import type { SessionInfo } from './types.js';

function PageFor({ route, mode }: { route: Route; mode: 'dev' | 'serve' }) {
  switch (route.page) {
    case 'dashboard':
      return <DashboardPage />;
    case 'logs':
      return <LogsPage requestId={route.param} />;
    case 'instances':
      return <InstancesPage />;
    case 'versions':
      return mode === 'serve' ? (
        <VersionsPage />
      ) : (
        <section>
          <h1 id="page-title">Versions</h1>
          <p>
            Versions and traffic splits belong to <code>hangar serve</code>; <code>hangar dev</code> runs one
            version of each service from its directory.
          </p>
        </section>
      );
    case 'quotas':
      return <QuotasPage />;
    case 'sockets':
      return <SocketsPage />;
  }
}

export function App() {
  const [session, setSession] = useState<SessionInfo>();
  const [notice, setNotice] = useState<string>();
  const [error, setError] = useState<string>();
  const route = useRoute();
  const firstRoute = useRef(true);

  const refresh = useCallback(async (): Promise<SessionInfo> => {
    const info = await getSession();
    setCsrf(info.signedIn ? info.csrf : undefined);
    setSession(info);
    setError(undefined);
    return info;
  }, []);

  useEffect(() => {
    refresh().catch((err: Error) => setError(err.message));
    onUnauthorized(() => {
      setCsrf(undefined);
      setNotice('Your session ended; sign in again.');
      setSession((s) => ({ signedIn: false, mode: s?.mode ?? 'dev' }));
    });
  }, [refresh]);

  // A new page: its title gets the focus (screen readers announce it), except on the first load.
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    const title = document.getElementById('page-title');
    if (title) {
      title.setAttribute('tabindex', '-1');
      title.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }, [route.page, route.param]);

  if (!session) {
    return (
      <main id="main" class="loading">
        {error ? <ErrorBox error={error} prefix="The platform could not be reached" /> : <p>Loading…</p>}
      </main>
    );
  }
  if (!session.signedIn) {
    return (
      <SignInPage
        notice={notice}
        onSignedIn={async () => {
          setNotice(undefined);
          const info = await refresh();
          if (!info.signedIn)
            throw new Error(
              'the token was accepted but the browser did not keep the session cookie (are cookies blocked?)',
            );
        }}
      />
    );
  }
  return (
    <Layout
      page={route.page}
      mode={session.mode}
      onSignOut={async () => {
        try {
          await signOut();
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 401)) throw err;
        }
        setNotice(undefined);
        await refresh();
      }}
    >
      <PageFor route={route} mode={session.mode} />
    </Layout>
  );
}
