/**
 * The version pods' database user (`--database-secret`, key `pods-url`; docs/kubernetes.md):
 * the app runs in the pod's process, so whatever the pod can do in the database, app code in it
 * can do too. The pods' user may therefore only read the schema versions and write the request
 * log and the metering counters (which the pods' store needs SELECT and UPDATE on, for replaced
 * records, size totals and quota totals); not the versions, the deployed files, the nodes, the
 * admin token or the session secret. Run as the user that owns the tables (the one in `url`)
 * after the first serve node has created them.
 */

/** Tables a pod writes: the request log's (src/logs/pg-store.ts) and metering's (src/metering/pg-store.ts). */
export const POD_TABLES = ['request_logs', 'log_line_groups', 'request_log_size', 'metering_daily'] as const;

/**
 * The SQL that gives `role` (an existing login role) what a pod needs and nothing more.
 *
 * @example
 * podDatabaseGrants('hangar_pods') // 'GRANT SELECT ON hangar_schema_versions TO hangar_pods; ...'
 */
export function podDatabaseGrants(role: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`'${role}' is not a plain PostgreSQL role name`);
  return [
    `GRANT SELECT ON hangar_schema_versions TO ${role};`,
    `GRANT SELECT, INSERT, UPDATE ON ${POD_TABLES.join(', ')} TO ${role};`,
  ].join('\n');
}
