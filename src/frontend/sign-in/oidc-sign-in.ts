/**
 * Sign-in under `hangar serve` (S11): OpenID Connect's authorization-code flow with PKCE, done
 * by `openid-client` (no hand-written JWT checks). `/_ah/login` sends the browser to the
 * provider with a fresh state, nonce and PKCE verifier, kept in a short-lived signed cookie;
 * the provider sends it back to `/_ah/login/callback`, where the code is exchanged at the
 * provider's token endpoint and the ID token is verified: its signature against the issuer's
 * JWKS (`enableNonRepudiationChecks`), and its issuer, audience, expiry and nonce. Then the
 * session cookie (session-cookie.ts) is set and the user goes back where they were.
 *
 * The redirect URI is `/_ah/login/callback` on the host the user came to: register it with the
 * provider for each host users sign in on (docs/sign-in.md).
 */
import * as oidc from 'openid-client';
import type { PlatformConfig } from '../../config/types.js';
import { HangarError } from '../../shared/errors.js';
import { type CookieSigner, cookieHeader, cookieValues, type SessionCookies } from './session-cookie.js';
import {
  CALLBACK_PATH,
  continueTarget,
  expiredCookie,
  invalid,
  LOGIN_PATH,
  LOGOUT_PATH,
  logout,
  originOf,
  type PageAnswer,
  redirect,
  type SignIn,
  type SignInPage,
} from './sign-in.js';
import { userIdFor } from './user-identity.js';

/** The cookie that carries one sign-in's checks from `/_ah/login` to the callback. */
const FLOW_COOKIE = 'hangar_signin';
/** How long a user has at the provider before the sign-in must start again. */
const FLOW_LIFETIME_MS = 10 * 60_000;

type OidcSettings = NonNullable<PlatformConfig['auth']['oidc']>;

export interface OidcSignInOptions {
  oidc: OidcSettings;
  /** Emails (lower-case) that are admins of every app (`auth.admins`). */
  admins: readonly string[];
  sessions: SessionCookies;
  authDomain: string;
  /** Platform warnings, e.g. a provider that cannot be reached. */
  warn?(message: string): void;
}

export class OidcSignIn implements SignIn {
  readonly unavailable = undefined;
  readonly sessions: SessionCookies;
  readonly authDomain: string;
  readonly #o: OidcSignInOptions;
  readonly #signer: CookieSigner;
  /** The provider's metadata, discovered on first use; a failed discovery is tried again next time. */
  #config: Promise<oidc.Configuration> | undefined;

  constructor(options: OidcSignInOptions) {
    this.#o = options;
    this.sessions = options.sessions;
    this.#signer = options.sessions.signer;
    this.authDomain = options.authDomain;
  }

  async answer(page: SignInPage): Promise<PageAnswer> {
    const q = page.url.indexOf('?');
    const path = q === -1 ? page.url : page.url.slice(0, q);
    if (path === LOGOUT_PATH) return logout(page, this.sessions);
    if (path === LOGIN_PATH)
      return this.#start(page, new URLSearchParams(q === -1 ? '' : page.url.slice(q + 1)));
    if (path === CALLBACK_PATH) return this.#finish(page);
    throw invalid(`${path} is not a sign-in page`);
  }

  /** `/_ah/login`: off to the provider, with this sign-in's checks in the flow cookie. */
  async #start(page: SignInPage, query: URLSearchParams): Promise<PageAnswer> {
    const target = continueTarget(query.get('continue'), page);
    const config = await this.#provider();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const verifier = oidc.randomPKCECodeVerifier();
    const parameters: Record<string, string> = {
      redirect_uri: `${originOf(page)}${CALLBACK_PATH}`,
      scope: 'openid email profile',
      response_type: 'code',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    // Another user than the one signed in (login: admin): the provider must ask again.
    if (query.get('switch') === '1') parameters.prompt = 'login';
    const expires = Date.now() + FLOW_LIFETIME_MS;
    const flow = this.#signer.sign('oidc', [state, nonce, verifier, target, page.app, expires]);
    return redirect(oidc.buildAuthorizationUrl(config, parameters).href, [
      cookieHeader(FLOW_COOKIE, flow, {
        maxAgeSeconds: FLOW_LIFETIME_MS / 1000,
        https: page.https,
        path: LOGIN_PATH,
      }),
    ]);
  }

  /** `/_ah/login/callback`: the code for tokens, the ID token checked, the session set. */
  async #finish(page: SignInPage): Promise<PageAnswer> {
    const flow = this.#flowOf(page);
    const url = new URL(`${originOf(page)}${page.url}`);
    const refused = url.searchParams.get('error');
    if (refused !== null) {
      const description = url.searchParams.get('error_description');
      throw failed(`the provider refused the sign-in: ${refused}${description ? ` (${description})` : ''}`);
    }
    const config = await this.#provider();
    let claims: oidc.IDToken | undefined;
    let email: unknown;
    let verified: unknown;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
      if (!claims) throw new Error('the provider sent no ID token');
      ({ email, email_verified: verified } = claims);
      // Providers that keep the ID token small put the email in userinfo only (OIDC Core 5.4).
      if (typeof email !== 'string' && tokens.access_token) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        ({ email, email_verified: verified } = info);
      }
    } catch (err) {
      throw failed(`the provider's answer did not verify: ${reason(err)}`, err);
    }
    if (typeof email !== 'string' || email === '')
      throw failed(
        "the provider gave no email for the user (neither in the ID token nor in userinfo); configure it to release the 'email' scope",
      );
    if (verified === false)
      throw failed(`the provider says ${email} is not verified; verify it with the provider first`);
    const user = {
      email,
      userId: userIdFor(`oidc:${claims.iss}:${claims.sub}`),
      admin: this.#o.admins.includes(email.toLowerCase()),
    };
    return redirect(flow.target, [
      this.sessions.issue(user, page.app, page.https),
      expiredCookie(FLOW_COOKIE, page.https, LOGIN_PATH),
    ]);
  }

  /** The checks `/_ah/login` put in the flow cookie, for this app and still in time. */
  #flowOf(page: SignInPage): { state: string; nonce: string; verifier: string; target: string } {
    for (const value of page.cookie ? cookieValues(page.cookie, FLOW_COOKIE) : []) {
      const payload = this.#signer.verify('oidc', value);
      if (!Array.isArray(payload) || payload.length !== 6) continue;
      const [state, nonce, verifier, target, app, expires] = payload as unknown[];
      if (app !== page.app || typeof expires !== 'number' || expires <= Date.now()) continue;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof verifier !== 'string') continue;
      if (typeof target !== 'string') continue;
      return { state, nonce, verifier, target };
    }
    throw failed(
      'this sign-in has no valid flow cookie: it took longer than 10 minutes, was started in another browser, or the cookie was changed; start again from the page you wanted',
    );
  }

  /** The provider's configuration, from its discovery document (cached once it worked). */
  #provider(): Promise<oidc.Configuration> {
    if (this.#config) return this.#config;
    const { issuer, clientId, clientSecret } = this.#o.oidc;
    const url = new URL(issuer);
    const execute = [oidc.enableNonRepudiationChecks];
    // Plain HTTP is accepted for a provider on a loopback host only (platform-schema.ts).
    if (url.protocol === 'http:') execute.push(oidc.allowInsecureRequests);
    const discovered = oidc.discovery(url, clientId, clientSecret, undefined, { execute });
    this.#config = discovered;
    discovered.catch((err) => {
      this.#config = undefined;
      this.#o.warn?.(`sign-in: the provider ${issuer} could not be discovered: ${reason(err)}`);
    });
    return discovered.catch((err) => {
      throw new HangarError(
        'SIGN_IN_UNAVAILABLE',
        `the sign-in provider ${issuer} cannot be reached or answered no OpenID Connect discovery document (${reason(err)}); try again shortly`,
        { cause: err },
      );
    });
  }
}

function failed(message: string, cause?: unknown): HangarError {
  return new HangarError('SIGN_IN_FAILED', message, cause === undefined ? undefined : { cause });
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message !== err.message
    ? `${err.message}: ${cause.message}`
    : err.message;
}
