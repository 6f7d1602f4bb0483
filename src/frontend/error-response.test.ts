import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/types.js';
import { HangarError } from '../shared/errors.js';
import { errorPage } from './error-pages.js';
import { errorAnswer } from './error-response.js';

const dir = mkdtempSync(join(tmpdir(), 'hangar-error-pages-'));
writeFileSync(join(dir, 'oops.html'), '<h1>oops</h1>');
writeFileSync(join(dir, 'quota.txt'), 'come back tomorrow');
const config = {
  dir,
  errorHandlers: [
    { errorCode: 'default', file: 'oops.html' },
    { errorCode: 'over_quota', file: 'quota.txt', mimeType: 'text/plain' },
  ],
} as unknown as AppConfig;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('errorPage (error_handlers)', () => {
  it('reads each page once, with its mime_type or the type of its extension', () => {
    expect(errorPage(config, 'default')).toEqual({
      body: Buffer.from('<h1>oops</h1>'),
      contentType: 'text/html; charset=utf-8',
    });
    expect(errorPage(config, 'over_quota')?.contentType).toBe('text/plain');
    expect(errorPage(config, 'timeout')).toBeUndefined();
  });
});

describe('errorAnswer', () => {
  it('serves the default page for platform 5xx after routing, text before routing', () => {
    const err = new HangarError('INSTANCE_EXITED', 'the instance serving this request exited unexpectedly');
    const routed = errorAnswer(err, { expose: true, config });
    expect(routed).toMatchObject({ status: 500, body: Buffer.from('<h1>oops</h1>') });
    expect(routed.logLine).toBe(
      'HANGAR_E_INSTANCE_EXITED: the instance serving this request exited unexpectedly',
    );
    const early = errorAnswer(err, { expose: true });
    expect(early.body.toString()).toBe(
      '500 Internal Server Error: the instance serving this request exited unexpectedly\n',
    );
  });

  it('serves the over_quota page for OVER_QUOTA', () => {
    const answer = errorAnswer(new HangarError('OVER_QUOTA', 'used up'), { expose: false, config });
    expect(answer).toMatchObject({ status: 503, body: Buffer.from('come back tomorrow') });
    expect(answer.headers['content-type']).toBe('text/plain');
  });

  it('keeps 4xx as text naming the rule, and hides 5xx causes unless exposed', () => {
    const bad = errorAnswer(new HangarError('REQUEST_TOO_LARGE', 'Content-Length 5 exceeds ...'), {
      expose: false,
      config,
    });
    expect(bad.body.toString()).toBe('413 Payload Too Large: Content-Length 5 exceeds ...\n');
    const hidden = errorAnswer(new Error('secret stack'), { expose: false });
    expect(hidden.body.toString()).not.toContain('secret');
    expect(hidden.logLine).toBe('Error: secret stack');
  });

  it('shows SIGN_IN_UNAVAILABLE’s message under serve too: it says what to configure', () => {
    const message = 'the platform has no sign-in provider: set auth.oidc.issuer in the platform config';
    const answer = errorAnswer(new HangarError('SIGN_IN_UNAVAILABLE', message), { expose: false });
    expect(answer.status).toBe(503);
    expect(answer.body.toString()).toBe(`503 Service Unavailable: ${message}\n`);
    expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(answer.logLine).toBe(`HANGAR_E_SIGN_IN_UNAVAILABLE: ${message}`);
    // The app's own `default` page would hide what to configure: the message wins over it.
    const withPage = errorAnswer(new HangarError('SIGN_IN_UNAVAILABLE', message), { expose: false, config });
    expect(withPage.body.toString()).toBe(`503 Service Unavailable: ${message}\n`);
    expect(
      errorAnswer(new HangarError('PENDING_TIMEOUT', 'x'), { expose: false, config }).body.toString(),
    ).toBe('<h1>oops</h1>');
    // Any other 5xx still hides its cause.
    const other = errorAnswer(new HangarError('PENDING_TIMEOUT', 'no instance within 10s (secret detail)'), {
      expose: false,
    });
    expect(other.status).toBe(503);
    expect(other.body.toString()).toBe(
      '503 Service Unavailable: The server encountered an error and could not complete your request.\n',
    );
    const internal = errorAnswer(new HangarError('INSTANCE_EXITED', 'exit code 3 (secret detail)'), {
      expose: false,
    });
    expect(internal.body.toString()).not.toContain('secret detail');
  });

  it('answers RESPONSE_TOO_LARGE with an empty 500, page or not', () => {
    const answer = errorAnswer(new HangarError('RESPONSE_TOO_LARGE', 'too big'), { expose: true, config });
    expect(answer).toMatchObject({ status: 500, body: Buffer.alloc(0), headers: { 'content-length': '0' } });
  });
});
