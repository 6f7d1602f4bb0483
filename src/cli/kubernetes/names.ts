/**
 * Kubernetes and Knative names for Hangar's apps, services and versions (docs/kubernetes.md
 * "Names"). Hangar's names are already DNS labels (S3: `[a-z\d-]`, at most 63), but a Knative
 * Service's name joins three of them and must stay short enough for the revision names and
 * hostnames Knative derives from it, and must start with a letter (RFC 1035).
 */
import { createHash } from 'node:crypto';

/** A Knative Service's name leaves room for `-<minor in base 36>` (13 characters) in its revision's. */
export const MAX_SERVICE_NAME = 49;
/** Route, Secret and other names: one DNS label. */
export const MAX_LABEL = 63;

/**
 * `parts` joined with `-` as a DNS-1035 label of at most `max` characters. A name that fits is
 * kept readable; one that does not (or starts with a digit) is cut and ends in 8 hex digits of
 * a hash of the parts, so two long names that share a beginning stay apart.
 *
 * @example
 * dnsName(['shop', 'default', 'v1'], 49) // 'shop-default-v1'
 * dnsName(['shop', 'default', '20240101t120000'], 20) // 'shop-default-2-3f9a2b1c'
 *
 * `hashed`: the hash even when the name fits, for two names that came out the same
 * (`a-b` + `c` and `a` + `b-c`).
 */
export function dnsName(parts: readonly string[], max: number, hashed = false): string {
  const joined = parts.join('-').toLowerCase();
  if (!hashed && joined.length <= max && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(joined)) return joined;
  const hash = createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8);
  const clean = joined.replace(/[^-a-z0-9]/g, '-');
  const lead = /^[a-z]/.test(clean) ? '' : 'h-';
  const room = max - hash.length - 1 - lead.length;
  return `${lead}${clean.slice(0, room).replace(/-+$/, '')}-${hash}`;
}

/** The Knative Service of one version: `APP-SERVICE-VERSION`. */
export function versionServiceName(app: string, service: string, version: string, hashed = false): string {
  return dnsName([app, service, version], MAX_SERVICE_NAME, hashed);
}

/**
 * The revision of one deploy of a version: the Knative Service's name and the MINOR in base 36
 * (a MINOR is up to 19 decimal digits, 13 in base 36), so a redeploy of a MAJOR (a new MINOR) is
 * a new revision, as it is a new set of instances on one machine.
 *
 * @example
 * revisionName('shop-default-v1', '461737318436569089') // 'shop-default-v1-3hj2l5n1xq9t'
 */
export function revisionName(serviceName: string, minor: string): string {
  return `${serviceName}-${BigInt(minor).toString(36)}`;
}

/** The Knative Route that splits a Hangar service's traffic: `APP-SERVICE`. */
export function routeName(app: string, service: string, hashed = false): string {
  return dnsName([app, service], MAX_LABEL, hashed);
}

/** The Secret holding an app's token for the socket service. */
export function socketTokenSecretName(app: string): string {
  return dnsName(['hangar-sockets', app], MAX_LABEL);
}

/** An image name component: lower case, `[a-z0-9._-]`. */
export function imageName(registry: string, parts: readonly string[], tag: string): string {
  const name = parts.join('-').toLowerCase();
  return `${registry.replace(/\/+$/, '')}/${name}:${tag}`;
}
