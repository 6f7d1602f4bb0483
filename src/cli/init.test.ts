import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { appNameFor } from '../config/app-names.js';
import { describeInit, initApp, runInit, templateNames, templatesDir } from './init.js';

const repoRoot = resolve(import.meta.dirname, '../..');

const temps: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-init-'));
  temps.push(dir);
  return dir;
}

/** Every file under `dir`, relative, with `/`, sorted. */
function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((d) => {
      const rel = prefix === '' ? d.name : `${prefix}/${d.name}`;
      return d.isDirectory() ? listFiles(dir, rel) : [rel];
    })
    .sort();
}

const common = ['.gitignore', 'README.md', 'app.yaml', 'package.json'];
const expected: Record<string, string[]> = {
  fetch: [...common, 'main.test.ts', 'main.ts', 'static/index.html'].sort(),
  hono: [...common, 'main.test.ts', 'main.ts'].sort(),
  express: [...common, 'app.js', 'app.test.js', 'main.js'].sort(),
  cgi: [...common, 'cgi-bin/hello.sh', 'cgi-bin/index.sh', 'cgi.test.js'].sort(),
  entrypoint: [...common, 'server.js', 'server.test.js'].sort(),
};

interface Pkg {
  name: string;
  private?: boolean;
  type?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Pkg;

describe('templateNames', () => {
  it('lists exactly the folders under templates/', () => {
    const folders = readdirSync(templatesDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect([...templateNames()].sort()).toEqual(folders.sort());
    expect(Object.keys(expected).sort()).toEqual(folders.sort());
  });
});

describe('appNameFor', () => {
  it("names the app as hangar dev does: its folder's name as an application id", () => {
    expect(appNameFor('/home/me/My Shop')).toBe('my-shop');
    expect(appNameFor('/tmp/hello_world.v2/')).toBe('hello-world-v2');
    expect(appNameFor('/tmp/2024')).toBe('app-2024');
    expect(appNameFor('/tmp/___')).toBe('app-dev');
    expect(appNameFor(`/tmp/${'a'.repeat(120)}`)).toHaveLength(100);
  });
});

describe.each(templateNames())('template %s', (template) => {
  it('writes its files, and only those, into a new directory', async () => {
    const dir = join(tempDir(), 'My App');
    const result = await initApp(dir, template);
    expect(result.dir).toBe(dir);
    expect(result.files).toEqual(expected[template]);
    expect(listFiles(dir)).toEqual(expected[template]);
    // The placeholder is gone everywhere.
    for (const file of result.files) expect(readFileSync(join(dir, file), 'utf8')).not.toContain('{{name}}');
  });

  it('writes a package.json Hangar and npm can run, named after the folder', async () => {
    const dir = join(tempDir(), 'My App');
    await initApp(dir, template);
    const pkg = readJson(join(dir, 'package.json'));
    expect(pkg).toMatchObject({ name: 'my-app', private: true, type: 'module' });
    expect(pkg.scripts?.dev).toBe('hangar dev');
    expect(pkg.scripts?.test).toMatch(/--test /);
    // The same ranges as Hangar's own package.json, which these templates are tested against.
    const own = readJson(join(repoRoot, 'package.json'));
    const ranges = { ...own.dependencies, ...own.devDependencies };
    for (const [name, range] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(range, name).toBe(ranges[name]);
    }
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('--application my-app');
  });

  it('writes a .gitignore for dependencies, Hangar data and local secrets', async () => {
    const dir = tempDir();
    await initApp(dir, template);
    const lines = readFileSync(join(dir, '.gitignore'), 'utf8').split('\n');
    expect(lines).toEqual(
      expect.arrayContaining(['node_modules/', '.hangar/', 'hangar-data/', '.env.local']),
    );
  });

  it('leaves app.yaml without application: (the app is named after its folder)', async () => {
    const dir = tempDir();
    await initApp(dir, template);
    const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
    expect(yaml).toMatch(/^runtime: nodejs20$/m);
    expect(yaml).not.toMatch(/^application:/m);
  });

  it('refuses a directory that holds app.yaml, and leaves it byte for byte', async () => {
    const dir = tempDir();
    const mine = Buffer.from('runtime: nodejs20\n# mine, with bytes: \u00e9\r\n');
    writeFileSync(join(dir, 'app.yaml'), mine);
    const failure = await initApp(dir, template).catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: 'HANGAR_E_INIT_TARGET_TAKEN' });
    expect((failure as Error).message).toMatch(/already holds app\.yaml.*would overwrite; it wrote nothing/);
    expect((failure as Error).message).toContain('hangar init ');
    expect(readFileSync(join(dir, 'app.yaml')).equals(mine)).toBe(true);
    expect(readdirSync(dir)).toEqual(['app.yaml']);
  });
});

describe('initApp', () => {
  it('writes into an existing empty directory, and next to files the template does not have', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, 'LICENSE'), 'mine');
    const result = await initApp(dir, 'fetch');
    expect(listFiles(dir)).toEqual([...expected.fetch!, 'LICENSE'].sort());
    expect(result.files).toEqual(expected.fetch);
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toBe('mine');
  });

  it('defaults to the fetch template', async () => {
    const dir = tempDir();
    expect((await initApp(dir)).template).toBe('fetch');
    expect(listFiles(dir)).toEqual(expected.fetch);
  });

  it('names every file it would overwrite, and writes none of the others', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'README.md'), 'my readme');
    writeFileSync(join(dir, 'package.json'), '{}');
    const failure = await initApp(dir, 'hono').catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: 'HANGAR_E_INIT_TARGET_TAKEN' });
    expect((failure as Error).message).toContain('already holds README.md, package.json');
    expect((failure as Error).message).toContain('--template hono');
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'package.json']);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe('my readme');
  });

  it('refuses a file where the template needs a folder', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'static'), 'a file');
    const failure = await initApp(dir, 'fetch').catch((err: unknown) => err);
    expect((failure as Error).message).toContain('already holds static,');
    expect(readdirSync(dir)).toEqual(['static']);
  });

  it('writes through a link to a directory', async () => {
    const real = tempDir();
    const link = join(tempDir(), 'link');
    symlinkSync(real, link, 'dir');
    await initApp(link, 'cgi');
    expect(listFiles(real)).toEqual(expected.cgi);
  });

  it('refuses a target that is a file', async () => {
    const file = join(tempDir(), 'app');
    writeFileSync(file, 'x');
    await expect(initApp(file, 'fetch')).rejects.toMatchObject({
      code: 'HANGAR_E_INIT_TARGET_TAKEN',
      message: expect.stringContaining('is a file, not a directory'),
    });
  });

  it('names the valid templates for an unknown one, and writes nothing', async () => {
    const dir = join(tempDir(), 'app');
    const failure = await initApp(dir, 'nextjs').catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: 'HANGAR_E_USAGE' });
    expect((failure as Error).message).toContain("there is no template 'nextjs'");
    for (const name of templateNames()) expect((failure as Error).message).toContain(name);
    expect(() => statSync(dir)).toThrow(/ENOENT/);
  });

  it('makes the CGI scripts executable', async () => {
    const dir = tempDir();
    await initApp(dir, 'cgi');
    for (const script of ['cgi-bin/index.sh', 'cgi-bin/hello.sh']) {
      expect(statSync(join(dir, script)).mode & 0o111, script).not.toBe(0);
    }
    expect(statSync(join(dir, 'app.yaml')).mode & 0o111).toBe(0);
  });
});

describe('runInit', () => {
  it('prints the files and the next command, with npm install only where there are packages', async () => {
    let printed = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      printed += String(chunk);
      return true;
    });
    const base = tempDir();
    await runInit(join(base, 'with-deps'), { template: 'hono' });
    await runInit(join(base, 'no-deps'), { template: 'cgi' });
    vi.restoreAllMocks();
    expect(printed).toContain('Wrote a hono app to ');
    expect(printed).toMatch(/^ {2}main\.ts$/m);
    expect(printed).toMatch(/^ {2}cd \S+with-deps && npm install && npx hangar dev$/m);
    expect(printed).toMatch(/^ {2}cd \S+no-deps && npx hangar dev$/m);
  });

  it('defaults to . and the fetch template', async () => {
    const dir = tempDir();
    vi.spyOn(process, 'cwd').mockReturnValue(dir);
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    await runInit(undefined, {});
    expect(listFiles(dir)).toEqual(expected.fetch);
    expect(String(write.mock.calls[0]?.[0])).toMatch(/^ {2}npm install && npx hangar dev$/m);
  });
});

describe('describeInit', () => {
  it('quotes a directory the shell would split', () => {
    vi.spyOn(process, 'cwd').mockReturnValue('/home/me');
    const text = describeInit({
      dir: "/home/me/Bob's app",
      template: 'cgi',
      name: 'bob-s-app',
      files: ['app.yaml'],
      needsInstall: false,
    });
    expect(text).toContain(`  cd 'Bob'\\''s app' && npx hangar dev\n`);
  });
});
