/** RFC 9110 7.6.1 hop-by-hop headers: meaningful for one connection, never forwarded. */
export const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Hop-by-hop names plus any header the `Connection` header lists. */
export function connectionScoped(connection: string | string[] | undefined): Set<string> {
  // `keep-alive` and `close` name no other header: the common case needs no new set.
  if (!connection || connection === 'keep-alive' || connection === 'close') return hopByHop;
  const names = new Set(hopByHop);
  for (const part of (Array.isArray(connection) ? connection.join(',') : connection).split(',')) {
    const name = part.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}
