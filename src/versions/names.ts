/**
 * The names a deploy carries (app, service, version), checked with app.yaml's own rules
 * (src/config/app-names.ts, SPEC S3) so the admin API refuses exactly what `hangar validate`
 * refuses. The names become hostname labels (S11) and path segments under
 * `<data-dir>/versions/`, so nothing else may reach the stores.
 */
import { applicationSchema, nameSchema } from '../config/app-names.js';
import { splitProblem } from '../config/schema-kit.js';
import { HangarError } from '../shared/errors.js';

const serviceSchema = nameSchema('service');
const versionSchema = nameSchema('version');

type NameSchema = typeof serviceSchema | typeof applicationSchema;

function check(schema: NameSchema, name: string): string {
  const result = schema.safeParse(name);
  if (result.success) return name;
  const { message, fix } = splitProblem(result.error.issues[0]?.message ?? `'${name}' is not valid`);
  throw new HangarError('NAME_INVALID', fix === undefined ? message : `${message}; ${fix}`);
}

/** Returns `name` when it is a valid application id, else throws HANGAR_E_NAME_INVALID. */
export function checkAppName(name: string): string {
  check(applicationSchema, name);
  // app.yaml's rule allows it, but hostnames split on '-dot-' (SERVICE-dot-APP), so an app
  // named 'a-dot-b' could never be addressed.
  if (name.includes('-dot-')) {
    throw new HangarError(
      'NAME_INVALID',
      `'${name}' must not contain '-dot-'; pick an application id without '-dot-', it separates the parts of hostnames such as SERVICE-dot-APP`,
    );
  }
  return name;
}

/** Returns `name` when it is a valid service name, else throws HANGAR_E_NAME_INVALID. */
export function checkServiceName(name: string): string {
  return check(serviceSchema, name);
}

/** Returns `name` when it is a valid version (MAJOR) name, else throws HANGAR_E_NAME_INVALID. */
export function checkVersionName(name: string): string {
  return check(versionSchema, name);
}
