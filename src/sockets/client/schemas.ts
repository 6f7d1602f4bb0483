/**
 * The socket protocol's zod schemas, loaded with the shim's first socket rather than at instance
 * start (wire.ts says why). Every reply from the service passes through ServiceLink.open(),
 * which waits for them, so code running after a reply can use schemas() synchronously.
 */
type Protocol = typeof import('../protocol.js');

let loading: Promise<Protocol> | undefined;
let loaded: Protocol | undefined;

export function loadSchemas(): Promise<Protocol> {
  loading ??= import('../protocol.js').then((module) => {
    loaded = module;
    return module;
  });
  return loading;
}

/** The schemas; only after a loadSchemas() resolved (any reply from the service implies it). */
export function schemas(): Protocol {
  if (!loaded) throw new Error('socket protocol schemas used before the first reply from the socket service');
  return loaded;
}
