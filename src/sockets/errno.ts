import { constants } from 'node:os';

/** The Node-style error apps and npm clients match on (`err.code === 'EACCES'`). */
export interface ErrnoError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** The plain shape of an errno error as it crosses the instance ↔ socket-service boundary. */
export interface WireError {
  code: string;
  message: string;
  syscall?: string | undefined;
  address?: string | undefined;
  port?: number | undefined;
  hostname?: string | undefined;
}

/**
 * An error shaped like the ones Node's own `net`/`dns` raise: `code` is the errno name
 * (`EACCES`, `EPIPE`, ...), `errno` its negative number, so libraries that branch on either
 * keep working over the shim.
 */
export function errnoError(wire: WireError): ErrnoError {
  const err = new Error(wire.message) as ErrnoError;
  err.code = wire.code;
  const number = (constants.errno as Record<string, number | undefined>)[wire.code];
  if (number !== undefined) err.errno = -number;
  if (wire.syscall !== undefined) err.syscall = wire.syscall;
  if (wire.address !== undefined) err.address = wire.address;
  if (wire.port !== undefined) err.port = wire.port;
  if (wire.hostname !== undefined) err.hostname = wire.hostname;
  return err;
}

/** The wire form of any error; unknown errors become `EIO` with their message. */
export function toWire(err: unknown): WireError {
  const e = err as Partial<ErrnoError> | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'EIO',
    message: typeof e?.message === 'string' ? e.message : String(err),
    syscall: e?.syscall,
    address: e?.address,
    port: e?.port,
    hostname: e?.hostname,
  };
}
