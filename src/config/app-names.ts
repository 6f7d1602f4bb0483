import { basename, resolve } from 'node:path';
/**
 * Names in app.yaml (SPEC S3): `application`, `service`/`module` and `version`.
 */
import { convert, describeValue, FieldProblem } from './schema-kit.js';

const NAME = /^(?!-)[a-z\d-]{0,62}[a-z\d]$/;
const APPLICATION = /^[a-z][a-z\d-]{0,99}$/;

/**
 * A service (`service`/`module`) or `version` name. Whole numbers are accepted and read as
 * their digits, as App Engine does for `version: 1`.
 */
export function nameSchema(kind: 'service' | 'version') {
  return convert((value) => {
    const name =
      typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : value;
    if (typeof name !== 'string') {
      throw new FieldProblem(
        `must be a ${kind} name, not ${describeValue(value)}`,
        `write a name such as ${example(kind)}`,
      );
    }
    if (!NAME.test(name)) {
      throw new FieldProblem(
        `'${name}' is not a valid ${kind} name: use 1 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen`,
        `rename it, e.g. ${slug(name) || example(kind)}`,
      );
    }
    if (name.includes('-dot-')) {
      throw new FieldProblem(
        `'${name}' must not contain '-dot-'`,
        "pick a name without '-dot-'; it separates the parts of hostnames such as VERSION-dot-SERVICE-dot-APP",
      );
    }
    if (kind === 'version' && name.startsWith('ah-')) {
      throw new FieldProblem(
        `'${name}' must not start with 'ah-'`,
        "rename the version; names starting with 'ah-' are reserved",
      );
    }
    if (kind === 'version' && (name === 'default' || name === 'latest')) {
      throw new FieldProblem(`'${name}' is a reserved version name`, 'choose another version name, e.g. v1');
    }
    return name;
  });
}

/** `application:` — lenient: a lowercase letter, then up to 99 lowercase letters, digits, hyphens. */
export const applicationSchema = convert((value) => {
  if (typeof value !== 'string' || !APPLICATION.test(value)) {
    throw new FieldProblem(
      `${describeValue(value)} is not a valid application id: start with a lowercase letter, then use up to 99 lowercase letters, digits and hyphens`,
      typeof value === 'string' && /^[a-z]/.test(slug(value))
        ? `rename it, e.g. ${slug(value)}`
        : 'write an id such as my-app',
    );
  }
  return value;
});

/** A valid name close to what was written, for the fix. */
function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z\d-]+/g, '-')
    .replace(/-dot-/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

function example(kind: 'service' | 'version'): string {
  return kind === 'service' ? 'api' : 'v1';
}

/**
 * The app's name, from its folder's: what `hangar dev` calls an app without `application:`
 * (src/cli/dev.ts), and what `hangar init` puts in package.json and a deploy's `--application`. It is a
 * valid application id and a valid npm package name.
 *
 * @example appNameFor('/home/me/My Shop') // 'my-shop'
 * @example appNameFor('/tmp/2024') // 'app-2024'
 */
export function appNameFor(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const id = /^[a-z]/.test(name) ? name : `app-${name || 'dev'}`;
  // Application ids are at most 100 characters.
  return id.slice(0, 100).replace(/-+$/, '');
}
