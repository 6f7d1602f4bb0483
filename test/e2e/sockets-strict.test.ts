/**
 * `hangar dev --strict-sockets` (S12): loopback and private destinations are refused as in
 * production, except what sockets.allow lists; refusals name the address and the rule.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { type Peers, startPeers } from './sockets-peers.js';

describe('hangar dev --strict-sockets', () => {
  let dev: DevServer;
  let peers: Peers;
  let configDir: string;
  beforeAll(async () => {
    peers = await startPeers();
    configDir = mkdtempSync(join(tmpdir(), 'hangar-sockets-strict-'));
    const config = join(configDir, 'hangar.config.yaml');
    writeFileSync(config, `sockets:\n  allow: ['127.0.0.1:${peers.echo}', 'localhost:${peers.udp}']\n`);
    dev = await startDev(
      [join(repoRoot, 'test/fixtures/sockets-app')],
      ['--no-watch', '--strict-sockets', '--config', config],
    );
  });
  afterAll(async () => {
    await dev?.stop();
    await peers?.close();
    rmSync(configDir, { recursive: true, force: true });
  });

  const get = async (path: string) => (await (await fetch(dev.url + path)).json()) as Record<string, unknown>;

  it('refuses loopback with EACCES naming the address and the rule', async () => {
    const { error } = (await get(`/connectError?port=${peers.id}`)) as { error: Record<string, string> };
    expect(error).toMatchObject({ code: 'EACCES', address: '127.0.0.1' });
    expect(error.message).toContain(`127.0.0.1:${peers.id}: 127.0.0.1 is loopback (127.0.0.0/8)`);
    expect(error.message).toContain('[rule: loopback (127.0.0.0/8)]');
    const v6 = (await get(`/connectError?host=::1&port=${peers.id}`)) as { error: Record<string, string> };
    expect(v6.error).toMatchObject({ code: 'EACCES', address: '::1' });
    const mapped = (await get(`/connectError?host=::ffff:127.0.0.1&port=${peers.id}`)) as {
      error: Record<string, string>;
    };
    expect(mapped.error.message).toContain('it embeds 127.0.0.1 (IPv4-mapped)');
  });

  it('lets through what sockets.allow lists (ip:port, and host:port for UDP sends), without a warning', async () => {
    expect(await get(`/tcp?port=${peers.echo}&msg=allowed`)).toMatchObject({ reply: 'allowed' });
    expect(await get(`/udp?host=localhost&port=${peers.udp}&msg=allowed`)).toMatchObject({
      reply: 'allowed',
    });
    const blocked = (await get(`/udpError?port=${peers.udp}`)) as { error: Record<string, string> };
    expect(blocked.error).toMatchObject({ code: 'EACCES' });
    expect(dev.output()).not.toContain('allowed on the dev server');
  });
});
