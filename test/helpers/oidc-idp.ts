/**
 * A real OpenID Connect provider on loopback for the sign-in tests under serve: the
 * `oidc-provider` package (a certified implementation), with its development login pages (any
 * login, any password; the login is the user's email) and consent skipped. Its HTTP server
 * listens first, so the issuer URL is known before `serve` starts; the provider itself is made
 * once the platform's port (the redirect URI) is known: `register()`.
 *
 * `tamper.idToken` changes the email inside each ID token the token endpoint returns, keeping
 * its signature: what an attacker between the platform and the provider would try.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Makes the provider, with this client's redirect URIs. Call once. */
  register(redirectUris: string[]): void;
  tamper: { idToken: boolean };
  /** Leave the email out of ID tokens (as providers that keep them small do): userinfo only. */
  emailInUserinfoOnly: boolean;
  /** Token endpoint responses served, for asserting the platform went there. */
  tokenResponses: number;
  close(): Promise<void>;
}

export async function startIdp(): Promise<TestIdp> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (!handler) {
      res.writeHead(503).end('provider not registered yet');
      return;
    }
    if (req.method === 'POST' && req.url === '/token') {
      idp.tokenResponses++;
      if (idp.tamper.idToken) tamperIdToken(res);
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const idp: TestIdp = {
    issuer,
    clientId: 'hangar-test',
    clientSecret: 'a-client-secret-of-the-test-provider',
    tamper: { idToken: false },
    emailInUserinfoOnly: false,
    tokenResponses: 0,
    register(redirectUris) {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: idp.clientId,
            client_secret: idp.clientSecret,
            redirect_uris: redirectUris,
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        jwks: { keys: [{ ...key, kid: 'test-key', use: 'sig', alg: 'RS256' }] },
        cookies: { keys: ['cookie-key-of-the-test-provider'] },
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
        // The claims of the requested scopes go into the ID token too (as Google's do), unless
        // emailInUserinfoOnly (below).
        conformIdTokenClaims: false,
        pkce: { required: () => true },
        ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600 },
        features: { devInteractions: { enabled: true } },
        async findAccount(_ctx, sub) {
          return {
            accountId: sub,
            async claims(use: string) {
              if (use === 'id_token' && idp.emailInUserinfoOnly) return { sub };
              return { sub, email: sub, email_verified: true, name: sub.split('@')[0] };
            },
          };
        },
        // Every client is trusted here: no consent page after the login.
        async loadExistingGrant(ctx) {
          const grant = new ctx.oidc.provider.Grant({
            clientId: ctx.oidc.client!.clientId,
            accountId: ctx.oidc.session!.accountId!,
          });
          grant.addOIDCScope('openid email profile');
          await grant.save();
          return grant;
        },
      });
      handler = provider.callback();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return idp;
}

/** Rewrites the ID token in a token endpoint response: another email, the old signature. */
function tamperIdToken(res: ServerResponse): void {
  const end = res.end.bind(res) as (chunk?: unknown, ...rest: unknown[]) => ServerResponse;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (chunk === undefined || typeof chunk === 'function') return end(chunk, ...rest);
    const body = JSON.parse(String(chunk)) as { id_token?: string };
    if (body.id_token) {
      const [header, payload, signature] = body.id_token.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      claims.email = 'mallory@example.com';
      claims.sub = 'mallory@example.com';
      body.id_token = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join(
        '.',
      );
    }
    const text = JSON.stringify(body);
    if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(text));
    return end(text, ...rest);
  }) as typeof res.end;
}
