/**
 * An unmodified npm client library through the Sockets API (S12): nodemailer in an instance
 * sends mail to a real SMTP server (the smtp-server package) on 127.0.0.1, the way smtplib
 * worked unchanged on App Engine; and port 25 is refused before any connection is made.
 */
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';

interface Received {
  from: string;
  to: string[];
  data: string;
}

describe('nodemailer through the shim', () => {
  let dev: DevServer;
  let smtp: SMTPServer;
  let port: number;
  const received: Received[] = [];

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        let data = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (data += chunk));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data,
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    port = (smtp.server.address() as { port: number }).port;
    dev = await startDev([join(repoRoot, 'test/fixtures/sockets-smtp')], ['--no-watch']);
  });
  afterAll(async () => {
    await dev?.stop();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it('delivers a mail to a real SMTP server on loopback', async () => {
    const res = await fetch(`${dev.url}/send?port=${port}`);
    const body = (await res.json()) as { accepted: string[]; response: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.accepted).toEqual(['someone@example.test']);
    expect(body.response).toMatch(/^250 /);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ from: 'app@example.test', to: ['someone@example.test'] });
    expect(received[0]!.data).toContain(`Subject: hello over port ${port}`);
    expect(received[0]!.data).toMatch(/sent by request [0-9a-f]{32}/);
  });

  it('refuses port 25 with EACCES before connecting, whatever the host', async () => {
    const before = received.length;
    const res = await fetch(`${dev.url}/send?port=25`);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(502);
    expect(`${body.error.code} ${body.error.message}`).toMatch(/EACCES/);
    expect(body.error.message).toMatch(
      /127\.0\.0\.1:25: port 25 \(SMTP\) is refused on every host.*\[rule: port 25\]/,
    );
    expect(received).toHaveLength(before);
  });
});
