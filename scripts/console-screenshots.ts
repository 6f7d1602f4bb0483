/**
 * Screenshots of every console page (docs/console/, shown in the README), from a real
 * `hangar serve` with real traffic: two versions of an app split 70/30, an app that logs at every
 * level, and one holding an idle socket to an echo server of this script. Desktop (1280×800) and
 * phone (390×844). Loopback only. Run after `npm run build`:
 *
 *   npx tsx scripts/console-screenshots.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, loopbackContext } from '../test/helpers/browser.js';
import {
  deploy,
  fixture,
  freshDataDir,
  removeDataDirs,
  repoRoot,
  startServe,
} from '../test/helpers/serve.js';

const out = join(repoRoot, 'docs/console');

/** An app that opens a socket to the echo server and keeps it, idle, for the sockets page. */
function socketApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-screens-chat-'));
  writeFileSync(join(dir, 'app.yaml'), 'runtime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n');
  writeFileSync(
    join(dir, 'main.mjs'),
    [
      "import net from 'node:net';",
      'const held = [];',
      'export async function app(request) {',
      "  const port = Number(new URL(request.url).searchParams.get('port'));",
      "  const socket = net.connect(port, '127.0.0.1');",
      "  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));",
      "  socket.write('hello');",
      '  held.push(socket);',
      "  return new Response('holding a socket');",
      '}',
      '',
    ].join('\n'),
  );
  return dir;
}
const echo = createServer((socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const echoPort = (echo.address() as AddressInfo).port;

const dataDir = freshDataDir();
const config = join(dataDir, 'platform.yaml');
writeFileSync(config, `sockets:\n  allow: ["127.0.0.1:${echoPort}"]\n`);
const serve = await startServe({ dataDir, args: ['--config', config] });
const browser = await launchChromium();
try {
  for (const [dir, app, version] of [
    [fixture('serve-env'), 'shop', 'v1'],
    [fixture('serve-env'), 'shop', 'v2'],
    [fixture('logs-app'), 'blog', 'v1'],
    [socketApp(), 'chat', 'v1'],
  ] as const) {
    const run = await deploy(serve, dir, [
      '--application',
      app,
      '--version',
      version,
      ...(version === 'v2' ? ['--no-promote'] : []),
    ]);
    if (run.code !== 0) throw new Error(`deploy of ${app} ${version} failed: ${run.stderr}`);
  }
  const split = await serve.admin('POST', '/api/versions/split', {
    app: 'shop',
    service: 'default',
    allocations: { v1: 0.7, v2: 0.3 },
    shardBy: 'cookie',
  });
  if (split.status !== 200) throw new Error(`split failed: ${split.text}`);
  const get = (host: string, path: string) => serve.get(host, path);
  await get('chat.localhost', `/hold?port=${echoPort}`);
  // 20 seconds of traffic, so the charts have a shape.
  for (let second = 0; second < 20; second++) {
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < 10 + (second % 5) * 4; i++)
      burst.push(get('shop.localhost', `/?delay=${(i % 4) * 15}`));
    burst.push(get('blog.localhost', '/levels'), get('blog.localhost', `/many?tag=s${second}&n=5`));
    if (second % 6 === 0)
      burst.push(get('blog.localhost', '/critical'), get('shop.localhost', '/missing/page'));
    await Promise.all(burst);
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000 || 0)));
  }

  const { context } = await loopbackContext(browser);
  const page = await context.newPage();
  await page.goto(serve.adminUrl);
  await page.fill('#token', serve.token);
  await page.click('#sign-in-submit');
  await page.waitForSelector('nav#nav');
  const pages = ['dashboard', 'logs', 'instances', 'versions', 'quotas', 'sockets'];
  for (const [size, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['mobile', { width: 390, height: 844 }],
  ] as const) {
    await page.setViewportSize(viewport);
    for (const name of pages) {
      await page.goto(`${serve.adminUrl}/#/${name}`);
      if (name === 'dashboard') {
        const refetched = page.waitForResponse((r) => r.url().includes('/api/timeseries?range=300'));
        await page.selectOption('#range', '300');
        await refetched;
        await page.evaluate(() => new Promise(requestAnimationFrame));
      }
      if (name === 'dashboard')
        await page.waitForSelector('div.chart[data-chart=requests][data-points]:not([data-points="0"])');
      if (name === 'logs') {
        await page.waitForSelector('li.log-entry');
        const withLines = page.locator('li.log-entry', { hasText: '/levels' }).first();
        await withLines.locator('button.log-toggle').click();
        await withLines.locator('li.log-line').first().waitFor();
      }
      if (name === 'instances') await page.waitForSelector('tr[data-instance-id]');
      if (name === 'versions') await page.waitForSelector('tr[data-version]');
      if (name === 'quotas') await page.waitForSelector('table#quotas');
      if (name === 'sockets') await page.waitForSelector('tr[data-socket-id]');
      await page.screenshot({ path: join(out, `${name}-${size}.png`) });
      console.log(`docs/console/${name}-${size}.png`);
    }
  }
} finally {
  await browser.close();
  await serve.stop();
  echo.close();
  removeDataDirs();
}
