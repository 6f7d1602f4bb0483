/**
 * The console's web UI (S14, issue 20) end to end, in Debian's Chromium driven by
 * playwright-core, against real platforms with real traffic:
 *
 * - `hangar dev` test/fixtures/logs-app: signing in (a wrong token refused with the platform's
 *   message), the dashboard's charts drawing the requests made and refilled in place, a request
 *   expanding to its app lines with their levels and its permalink, the live tail showing a new
 *   request within 1 s of its answer, and stopping an instance from the UI (its process gone).
 * - `hangar serve` with two versions of test/fixtures/serve-env: a refused split shows the
 *   platform's words; a split made in the UI sends every fresh client to the version it names.
 * - `hangar dev` test/fixtures/sockets-app holding an idle socket open to a TCP server of this
 *   test: the socket list's countdown goes down.
 *
 * Everything is on loopback; the browser context aborts any other request and the tests check
 * that the console asked for none.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, loopbackContext } from '../helpers/browser.js';
import { adminGet, type DevServer, type InstancesDoc, repoRoot, startDev } from '../helpers/dev-server.js';
import {
  deploy,
  fixture,
  httpGet,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stopAllServes,
} from '../helpers/serve.js';

let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** A fresh browser context on the console, signed in with `token`; `blocked` lists any non-loopback request. */
async function signedIn(adminUrl: string, token: string): Promise<{ page: Page; blocked: string[] }> {
  const { context, blocked } = await loopbackContext(browser);
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${adminUrl}/`);
  await page.fill('input#token', token);
  await page.click('button#sign-in-submit');
  await page.waitForSelector('nav#nav');
  return { page, blocked };
}

/** `data-points` and `data-nonzero` of one dashboard chart. */
async function chartPoints(page: Page, name: string): Promise<{ points: number; nonZero: number }> {
  return page.$eval(`div.chart[data-chart="${name}"]`, (el) => ({
    points: Number(el.getAttribute('data-points')),
    nonZero: Number(el.getAttribute('data-nonzero')),
  }));
}

/** `count` GETs of `path` on the app, one after another; the answers' bodies. */
async function traffic(url: string, path: string, count: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}${path}${path.includes('?') ? '&' : '?'}n=${i}`);
    expect(res.status).toBe(200);
    bodies.push(await res.text());
  }
  return bodies;
}

describe('the console under hangar dev (logs-app)', () => {
  let dev: DevServer;

  beforeAll(async () => {
    dev = await startDev([join(repoRoot, 'test/fixtures/logs-app')], ['--no-watch']);
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts.splice(0)) await context.close();
    await dev?.stop();
  });

  it('refuses a wrong token with the platform’s message, then signs in with the admin token', async () => {
    const { context, blocked } = await loopbackContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${dev.adminUrl}/`);
    // The form as a user meets it: a labelled password field and the hint where the token is.
    const token = page.getByLabel('Admin token');
    await expect(token.getAttribute('type')).resolves.toBe('password');
    await expect(page.locator('form#sign-in').textContent()).resolves.toContain('<data-dir>/admin-token');

    await token.fill('not-the-admin-token');
    await page.click('button#sign-in-submit');
    const error = await page.waitForSelector('#sign-in-error');
    expect(await error.textContent()).toContain('wrong admin token');
    expect(await page.$('nav#nav')).toBeNull();
    expect((await context.cookies(dev.adminUrl)).map((c) => c.name)).not.toContain('hangar_console');

    await token.fill(dev.token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('nav#nav');
    expect((await context.cookies(dev.adminUrl)).map((c) => c.name)).toContain('hangar_console');
    // Every page but versions (serve only); the current one marked.
    const links = await page.$$eval('nav#nav a', (as) => as.map((a) => a.getAttribute('href')));
    expect(links).toEqual(['#/dashboard', '#/logs', '#/instances', '#/quotas', '#/sockets']);
    await expect(page.getAttribute('a[href="#/dashboard"]', 'aria-current')).resolves.toBe('page');
    await page.click('a[href="#/logs"]');
    await expect(page.getAttribute('a[href="#/logs"]', 'aria-current')).resolves.toBe('page');
    await expect(page.getAttribute('a[href="#/dashboard"]', 'aria-current')).resolves.toBeNull();

    // Signing out ends the session: the form again, and a reload stays signed out.
    await page.click('button#sign-out');
    await page.waitForSelector('form#sign-in');
    await page.reload();
    await page.waitForSelector('form#sign-in');
    expect(blocked).toEqual([]);
  });

  it('draws the requests and their latency on the dashboard, refilling the charts in place', async () => {
    const { page, blocked } = await signedIn(dev.adminUrl, dev.token);
    await page.goto(`${dev.adminUrl}/#/dashboard`);
    await page.selectOption('select#range', '300');
    for (const name of ['requests', 'latency', 'errors', 'instances', 'bandwidth', 'sockets'])
      await page.waitForSelector(`div.chart[data-chart="${name}"]`);
    // The 5-minute range has one point a second; no request yet, so nothing is drawn (what follows is
    // the traffic's doing).
    await page.getByText('one point every 1 s').waitFor();
    expect(await chartPoints(page, 'requests')).toEqual({ points: 0, nonZero: 0 });
    expect(await chartPoints(page, 'latency')).toEqual({ points: 0, nonZero: 0 });

    await traffic(dev.url, '/levels?dash=1', 20);
    await expect
      .poll(async () => (await chartPoints(page, 'requests')).nonZero, { timeout: 10_000, interval: 200 })
      .toBeGreaterThan(0);
    await expect
      .poll(async () => (await chartPoints(page, 'latency')).points, { timeout: 10_000, interval: 200 })
      .toBeGreaterThan(0);
    expect((await chartPoints(page, 'requests')).points).toBeGreaterThan(0);
    // The version is the legend.
    await expect(page.locator('div.chart[data-chart="requests"] .u-legend').textContent()).resolves.toContain(
      'logs-app/default/dev',
    );

    // A later second of traffic shows up in the same uPlot instance (refilled, not made again).
    await page.$eval('div.chart[data-chart="requests"] .uplot', (el) =>
      el.setAttribute('data-test-mark', '1'),
    );
    const before = (await chartPoints(page, 'requests')).nonZero;
    // The next traffic must fall into a later second than the first (one slot per second).
    const second = Math.floor(Date.now() / 1000);
    await expect.poll(() => Math.floor(Date.now() / 1000), { interval: 50 }).toBeGreaterThan(second);
    await traffic(dev.url, '/levels?dash=2', 10);
    await expect
      .poll(async () => (await chartPoints(page, 'requests')).nonZero, { timeout: 10_000, interval: 200 })
      .toBeGreaterThan(before);
    expect(await page.$('div.chart[data-chart="requests"] .uplot[data-test-mark="1"]')).not.toBeNull();
    expect(blocked).toEqual([]);
  });

  it('expands a request to its app lines with their levels, and its permalink opens it alone', async () => {
    const tag = `expand-${Date.now()}`;
    await traffic(dev.url, `/levels?tag=${tag}`, 1);
    const { entries } = await adminGet<{ entries: Array<{ requestId: string }> }>(
      dev,
      `/api/logs?text=${tag}`,
    );
    expect(entries).toHaveLength(1);
    const id = entries[0]!.requestId;

    const { page, blocked } = await signedIn(dev.adminUrl, dev.token);
    await page.goto(`${dev.adminUrl}/#/logs`);
    const entry = page.locator(`li.log-entry[data-request-id="${id}"]`);
    await entry.waitFor();
    await expect(entry.textContent()).resolves.toContain(`/levels?tag=${tag}`);
    expect(await entry.locator('ul.log-lines').count()).toBe(0);
    await entry.locator('button.log-toggle').click();
    const lines = entry.locator('ul.log-lines li.log-line');
    await lines.first().waitFor();
    const seen = await lines.evaluateAll((els) =>
      els.map((el) => [el.getAttribute('data-level'), el.querySelector('.message')?.textContent]),
    );
    expect(seen).toEqual([
      ['debug', 'debug line'],
      ['info', 'info line'],
      ['warning', 'warning line'],
      ['error', 'error line 42'],
    ]);

    // The filters narrow the list: minimum level error and the tag keep this request alone.
    await page.fill('#log-filters input[name="text"]', tag);
    await page.selectOption('#log-filters select[name="minLevel"]', 'error');
    await page.click('#log-filters button[type="submit"]');
    await expect.poll(() => page.locator('li.log-entry').count(), { timeout: 5_000 }).toBe(1);
    await page.selectOption('#log-filters select[name="minLevel"]', 'critical');
    await page.click('#log-filters button[type="submit"]');
    await expect.poll(() => page.locator('li.log-entry').count(), { timeout: 5_000 }).toBe(0);

    // The permalink, opened in a new page: that request, expanded.
    const link = `${dev.adminUrl}/#/logs/${id}`;
    const other = await page.context().newPage();
    await other.goto(link);
    const alone = other.locator(`li.log-entry[data-request-id="${id}"]`);
    await alone.locator('ul.log-lines li.log-line[data-level="warning"]').waitFor();
    expect(await other.locator('li.log-entry').count()).toBe(1);
    await expect(other.locator('a.permalink').getAttribute('href')).resolves.toBe(`#/logs/${id}`);
    expect(blocked).toEqual([]);
  });

  it('shows a new request in the live tail within 1 s of its answer', async () => {
    const { page, blocked } = await signedIn(dev.adminUrl, dev.token);
    await page.goto(`${dev.adminUrl}/#/logs`);
    await page.getByLabel('Live tail').check();
    await page.getByText('following new requests').waitFor();
    for (let round = 0; round < 3; round++) {
      const path = `/levels?tail=${Date.now()}-${round}`;
      const appeared = page
        .waitForSelector(`li.log-entry .log-resource[title="${path}"]`, { timeout: 5_000 })
        .then(() => Date.now());
      const res = await fetch(dev.url + path);
      await res.text();
      const answered = Date.now();
      const shownAfter = (await appeared) - answered;
      expect(shownAfter, `${path} appeared ${shownAfter} ms after its answer`).toBeLessThanOrEqual(1000);
      // Newest first.
      await expect(page.locator('li.log-entry .log-resource').first().getAttribute('title')).resolves.toBe(
        path,
      );
    }
    expect(blocked).toEqual([]);
  });

  it('on a 390 px screen: no page scrolls sideways, and tailing never moves the row being read', async () => {
    const { page, blocked } = await signedIn(dev.adminUrl, dev.token);
    await page.setViewportSize({ width: 390, height: 844 });
    for (const name of ['dashboard', 'logs', 'instances', 'quotas', 'sockets']) {
      await page.goto(`${dev.adminUrl}/#/${name}`);
      await page.locator('h1').first().waitFor();
      const overflow = await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect(overflow, `#/${name} is wider than the screen`).toBeLessThanOrEqual(0);
    }
    // Enough history that the list reaches below the fold.
    const tag = `read-${Date.now()}`;
    await traffic(dev.url, `/levels?${tag}`, 30);
    await page.goto(`${dev.adminUrl}/#/logs`);
    await page.locator('li.log-entry').nth(20).waitFor();
    await page.getByLabel('Live tail').check();
    await page.getByText('following new requests').waitFor();
    // The reader scrolls down to a row in the middle of the list.
    const reading = page.locator('li.log-entry').nth(12);
    await reading.scrollIntoViewIfNeeded();
    const readId = await reading.getAttribute('data-request-id');
    const before = (await reading.boundingBox())!.y;
    // New requests come in while they read: they wait behind "N new", nothing moves.
    await traffic(dev.url, `/levels?${tag}-new`, 5);
    await expect
      .poll(async () => page.locator('button.new-entries').textContent(), { timeout: 5_000 })
      .toBe('5 new');
    const row = page.locator(`li.log-entry[data-request-id="${readId}"]`);
    expect((await row.boundingBox())!.y).toBeCloseTo(before, 0);
    // Asked for, they join the top of the list.
    await page.locator('button.new-entries').click();
    await expect(page.locator('li.log-entry .log-resource').first().getAttribute('title')).resolves.toContain(
      `${tag}-new`,
    );
    expect(blocked).toEqual([]);
  });

  it('stops an instance from the UI in two keyboard steps; its row says stopping and its process ends', async () => {
    const doc = await adminGet<InstancesDoc>(dev, '/api/instances');
    const target = doc.instances.find((i) => i.state !== 'stopped' && i.pid);
    expect(target, JSON.stringify(doc)).toBeDefined();
    const { id, pid } = target as { id: string; pid: number };
    expect(() => process.kill(pid, 0)).not.toThrow();

    const { page, blocked } = await signedIn(dev.adminUrl, dev.token);
    await page.goto(`${dev.adminUrl}/#/instances`);
    const row = page.locator(`table#instances tr[data-instance-id="${id}"]`);
    await row.waitFor();
    await expect(page.locator('ul#decisions li').first().textContent()).resolves.toMatch(/\w/);
    // Record every state the row shows (it may say 'stopping' only briefly).
    // (A script in the page, as text: these tests are compiled without the DOM's types.)
    await page.evaluate(`(() => {
      window.seenStates = [];
      new MutationObserver(() => {
        const state = document.querySelector('tr[data-instance-id="${id}"]')?.getAttribute('data-state');
        if (state && window.seenStates.at(-1) !== state) window.seenStates.push(state);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    })()`);

    await row.locator('button.stop-instance').focus();
    await page.keyboard.press('Enter');
    // The first step asks; nothing is stopped yet.
    const confirm = row.locator('button.confirm-stop');
    await confirm.waitFor();
    await expect(confirm.evaluate((el) => el.matches(':focus'))).resolves.toBe(true);
    expect(() => process.kill(pid, 0)).not.toThrow();
    await page.keyboard.press('Enter');

    await expect
      .poll(() => page.evaluate<string[]>('window.seenStates'), { timeout: 5_000 })
      .toContain('stopping');
    await expect
      .poll(
        () => {
          try {
            process.kill(pid, 0);
            return 'alive';
          } catch (err) {
            return (err as NodeJS.ErrnoException).code;
          }
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe('ESRCH');
    expect(blocked).toEqual([]);
  });
});

describe('the console under hangar serve (two versions)', () => {
  const APP = 'consoleapp';
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServe();
    for (const version of ['v1', 'v2']) {
      const run = await deploy(serve, fixture('serve-env'), ['--application', APP, '--version', version]);
      expect(run.code, run.stderr).toBe(0);
    }
    const rules = await serve.admin('POST', '/api/dispatch', {
      app: APP,
      rules: [{ url: '*/console-test/*', service: 'default' }],
    });
    expect(rules.status, rules.text).toBe(200);
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts.splice(0)) await context.close();
    await stopAllServes();
    removeDataDirs();
  });

  /** The version a fresh client (no cookie) lands on. */
  const freshVersion = async (i: number) => {
    const answer = await httpGet(`${serve.url}/?fresh=${i}`, undefined);
    expect(answer.status, answer.body).toBe(200);
    return (JSON.parse(answer.body) as { currentVersionId: string }).currentVersionId.split('.')[0];
  };

  it('changes the split from the UI: a refused one shows why, an accepted one routes every fresh client', async () => {
    // The last deploy promoted v2.
    expect(new Set(await Promise.all([0, 1, 2, 3, 4].map(freshVersion)))).toEqual(new Set(['v2']));

    const { page, blocked } = await signedIn(serve.adminUrl, serve.token);
    await expect(page.locator('nav#nav a[href="#/versions"]').count()).resolves.toBe(1);
    await page.click('nav#nav a[href="#/versions"]');
    const v1 = page.locator(`table#versions tr[data-version="${APP}/default/v1"]`);
    const v2 = page.locator(`table#versions tr[data-version="${APP}/default/v2"]`);
    await v1.waitFor();
    await expect(v2.locator('td.traffic').textContent()).resolves.toBe('100 %');
    await expect(v1.locator('td.traffic').textContent()).resolves.toBe('0 %');

    const form = page.locator(`form.split[data-service="${APP}/default"]`);
    await form.locator('input[name="weight-v1"]').fill('0.5');
    await form.locator('input[name="weight-v2"]').fill('0.6');
    await form.locator('button[type="submit"]').click();
    await expect(form.locator('.form-error').textContent()).resolves.toContain(
      'the weights add up to 1.1, not 1',
    );
    expect(new Set(await Promise.all([5, 6, 7].map(freshVersion)))).toEqual(new Set(['v2']));

    await form.locator('input[name="weight-v1"]').fill('1');
    await form.locator('input[name="weight-v2"]').fill('0');
    await form.locator('select[name="by"]').selectOption('random');
    await form.locator('button[type="submit"]').click();
    await expect.poll(() => v1.locator('td.traffic').textContent(), { timeout: 10_000 }).toBe('100 %');
    await expect(form.locator('.form-error').count()).resolves.toBe(0);
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => freshVersion(100 + i)));
    expect(new Set(after)).toEqual(new Set(['v1']));
    // The platform's own list says the same.
    const listed = await serve.admin('GET', `/api/versions?app=${APP}`);
    const traffic = Object.fromEntries(
      (listed.json as { versions: Array<{ version: string; traffic: number }> }).versions.map((v) => [
        v.version,
        v.traffic,
      ]),
    );
    expect(traffic).toEqual({ v1: 1, v2: 0 });

    // Opened afresh, the page shows the split in force (by random) and the app's dispatch rules.
    await page.reload();
    await expect
      .poll(() => form.locator('select[name="by"]').inputValue(), { timeout: 10_000 })
      .toBe('random');
    await expect(form.locator('input[name="weight-v1"]').inputValue()).resolves.toBe('1');
    await expect(
      page.locator(`#dispatch table[data-app="${APP}"] tr[data-url="*/console-test/*"]`).textContent(),
    ).resolves.toContain('default');
    expect(blocked).toEqual([]);
  });
});

describe('the console under hangar dev (sockets-app holding an idle socket)', () => {
  let dev: DevServer;
  let peer: Server;
  const peerSockets = new Set<Socket>();

  beforeAll(async () => {
    // A TCP server on loopback that greets and then stays silent: the app's socket goes idle.
    peer = createServer((socket) => {
      peerSockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => peerSockets.delete(socket));
      socket.write('hello 1\n');
    });
    peer.listen(0, '127.0.0.1');
    await once(peer, 'listening');
    dev = await startDev([join(repoRoot, 'test/fixtures/sockets-app')], ['--no-watch']);
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts.splice(0)) await context.close();
    await dev?.stop();
    for (const socket of peerSockets) socket.destroy();
    await new Promise((resolve) => peer?.close(resolve));
  });

  it('lists the open socket and counts down to its idle reclaim every second', async () => {
    const port = (peer.address() as AddressInfo).port;
    const res = await fetch(`${dev.url}/open?port=${port}`);
    expect(res.status).toBe(200);
    const { descriptor } = (await res.json()) as { descriptor: string };
    const id = descriptor.split('.')[1]!;

    const { page, blocked } = await signedIn(dev.adminUrl, dev.token);
    await page.goto(`${dev.adminUrl}/#/sockets`);
    const row = page.locator(`table#sockets tr[data-socket-id="${id}"]`);
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain(`127.0.0.1:${port}`);
    const cell = row.locator('td.reclaim-in');
    const read = async () => ({
      ms: Number(await cell.getAttribute('data-ms')),
      text: await cell.textContent(),
    });
    const first = await read();
    // Idle for at most a few seconds of a 10-minute allowance.
    expect(first.ms).toBeGreaterThan(9 * 60_000);
    expect(first.ms).toBeLessThanOrEqual(10 * 60_000);
    expect(first.text).toMatch(/^\d+ min \d+ s$/);
    // Each second the figure goes down, with no request needed between (the list is fetched every 5 s).
    const texts = new Set([first.text]);
    let last = first.ms;
    for (let i = 0; i < 3; i++) {
      // The page's own tick changes the figure within a second or so.
      const previous = last;
      await expect
        .poll(async () => (await read()).ms, { timeout: 3_000, interval: 100 })
        .toBeLessThan(previous);
      const now = await read();
      texts.add(now.text);
      last = now.ms;
    }
    expect(first.ms - last).toBeGreaterThanOrEqual(2_500);
    expect(texts.size).toBeGreaterThanOrEqual(3);
    expect(blocked).toEqual([]);
  });
});
