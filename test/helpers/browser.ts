/**
 * A real browser for the sign-in tests (issue 19): Debian's Chromium (`apt-get install
 * chromium`, as .ci/run does; another one with HANGAR_CHROMIUM) driven by playwright-core.
 * Network safety: Chromium resolves no name but localhost (host-resolver rules), its background
 * services are off, and every request to anything but loopback is aborted and recorded, so a
 * page that links the internet (the test provider's pages load a web font) stays on this machine.
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

export const chromiumPath = process.env.HANGAR_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath))
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's (apt-get install chromium, as .ci/run does) or set HANGAR_CHROMIUM to one`,
    );
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      // Tests run as root in CI, where Chromium's sandbox cannot start.
      '--no-sandbox',
      '--disable-gpu',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-domain-reliability',
      '--no-first-run',
      '--no-default-browser-check',
    ],
  });
}

const loopbackHosts = /^(127\.\d+\.\d+\.\d+|localhost|[\w-]+\.localhost|\[::1\])$/;

/** A browser context whose requests reach loopback only; `blocked` lists what was refused. */
export async function loopbackContext(
  browser: Browser,
): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext();
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && loopbackHosts.test(url.hostname))
      return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  return { context, blocked };
}
