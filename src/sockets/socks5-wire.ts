/**
 * The SOCKS5 wire format (RFC 1928), server side, as pure functions: the greeting, the
 * request, the reply and the header of relayed UDP datagrams. No I/O here; `socks5.ts` holds
 * the conversation and `udp-relay.ts` the datagrams.
 *
 * Written here rather than taken from npm (the choice is recorded in docs/decisions.md). The
 * server-side packages on the registry were read before deciding:
 * - `socksv5` 0.0.6 (mscdex) and its forks `@mongodb-js/socksv5`, `@heroku/socksv5`: untyped
 *   JavaScript from the Node 0.10 era, CONNECT only, and a bare 2-byte answer (not an RFC 1928
 *   reply) to any other command; no UDP ASSOCIATE.
 * - `@pondwader/socks5-server` 1.0.10 (typed): owns its listener (sharing a port with HTTP
 *   CONNECT needs its underscored `_handleConnection`), always replies BND 0.0.0.0:0 (UDP
 *   ASSOCIATE must name the relay there), drops the connection on an unknown address type
 *   instead of answering 0x08, and has no UDP relay.
 * - `simple-socks` 3.6.0: answers BIND and UDP ASSOCIATE with "succeeded" and does nothing.
 * The server side of RFC 1928 with the no-authentication method is this file; every parser
 * is table-tested in socks5-wire.test.ts.
 */
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * What a parser made of the bytes so far: not enough yet, one whole message of `size` bytes,
 * or a message no more bytes can mend. `code` is the answer that calls for: a SOCKS method or
 * reply code, or an HTTP status.
 */
export type Step<T> =
  | { kind: 'more' }
  | { kind: 'done'; value: T; size: number }
  | { kind: 'bad'; code: number; reason: string };

/** VER of every SOCKS5 message, and the first byte that tells a SOCKS5 client from an HTTP one. */
export const SOCKS_VERSION = 0x05;

/** Authentication methods (RFC 1928 §3). Only "no authentication required" is offered. */
export const Method = { noAuth: 0x00, noneAcceptable: 0xff } as const;

/** Commands of a request (RFC 1928 §4). */
export const Command = { connect: 0x01, bind: 0x02, udpAssociate: 0x03 } as const;

/** Address types (RFC 1928 §5). */
export const AddressType = { ipv4: 0x01, domain: 0x03, ipv6: 0x04 } as const;

/** Reply codes (RFC 1928 §6). */
export const Reply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

const more = { kind: 'more' } as const;

/** The client's greeting: the authentication methods it offers. */
export interface Greeting {
  methods: number[];
}

/**
 * Parses `VER NMETHODS METHODS...`. A greeting offering no method at all is malformed; the
 * answer to it, as to a greeting without a method we accept, is X'FF' (RFC 1928 §3).
 */
export function parseGreeting(buf: Buffer): Step<Greeting> {
  if (buf.length < 2) return more;
  if (buf[0] !== SOCKS_VERSION) {
    return { kind: 'bad', code: Method.noneAcceptable, reason: `SOCKS version ${buf[0]} (only 5 is spoken)` };
  }
  const count = buf[1]!;
  if (count === 0)
    return { kind: 'bad', code: Method.noneAcceptable, reason: 'the greeting offers no method' };
  if (buf.length < 2 + count) return more;
  return { kind: 'done', value: { methods: [...buf.subarray(2, 2 + count)] }, size: 2 + count };
}

/** The method selection message: `VER METHOD`. */
export function encodeMethod(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** A request: the command and the destination, as text the socket policy reads. */
export interface Request {
  command: number;
  /** Dotted quad, RFC 5952 IPv6, or the domain name as sent (UTF-8). */
  host: string;
  port: number;
  addressType: number;
}

/**
 * Parses `VER CMD RSV ATYP DST.ADDR DST.PORT`. The command is not judged here (the
 * conversation answers 0x07 to one it does not carry out, once the whole request is in); an
 * address type outside RFC 1928 is answered 0x08, since the request's length is then unknown.
 */
export function parseRequest(buf: Buffer): Step<Request> {
  if (buf.length < 4) return more;
  if (buf[0] !== SOCKS_VERSION) {
    return { kind: 'bad', code: Reply.generalFailure, reason: `request of SOCKS version ${buf[0]}` };
  }
  const address = parseAddress(buf, 3);
  if (address.kind !== 'done') return address;
  const { host, port, addressType } = address.value;
  return { kind: 'done', value: { command: buf[1]!, host, port, addressType }, size: address.size };
}

/** A datagram a client sent to the relay (RFC 1928 §7). */
export interface UdpDatagram {
  frag: number;
  host: string;
  port: number;
  payload: Buffer;
}

/**
 * Parses `RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA`; undefined for a datagram too short for its
 * own header or with an unknown address type (the relay drops those, RFC 1928 §7).
 */
export function parseUdpDatagram(buf: Buffer): UdpDatagram | undefined {
  if (buf.length < 4) return undefined;
  const address = parseAddress(buf, 3);
  if (address.kind !== 'done') return undefined;
  const { host, port } = address.value;
  return { frag: buf[2]!, host, port, payload: buf.subarray(address.size) };
}

/** Wraps a datagram from `address:port` for the client: `RSV(2) FRAG=0 ATYP ADDR PORT DATA`. */
export function encodeUdpDatagram(address: string, port: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(address, port), payload]);
}

/**
 * The reply `VER REP RSV ATYP BND.ADDR BND.PORT`. `bound` is the address the server used
 * (CONNECT) or where the client sends datagrams (UDP ASSOCIATE); failures send 0.0.0.0:0.
 */
export function encodeReply(code: number, bound = { address: '0.0.0.0', port: 0 }): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, code, 0]), encodeAddress(bound.address, bound.port)]);
}

/** `ATYP ADDR PORT` for an IP literal (IPv4 or IPv6) or, failing that, a domain name. */
export function encodeAddress(address: string, port: number): Buffer {
  let head: Buffer;
  if (isIPv4(address)) head = Buffer.from([AddressType.ipv4, ...ipaddr.parse(address).toByteArray()]);
  else if (isIPv6(address)) {
    head = Buffer.from([AddressType.ipv6, ...ipaddr.parse(address.replace(/%.*$/, '')).toByteArray()]);
  } else {
    const name = Buffer.from(address);
    if (name.length === 0 || name.length > 255)
      throw new RangeError(`'${address}' cannot be sent as a SOCKS name`);
    head = Buffer.concat([Buffer.from([AddressType.domain, name.length]), name]);
  }
  const tail = Buffer.alloc(2);
  tail.writeUInt16BE(port);
  return Buffer.concat([head, tail]);
}

/**
 * Reads `ATYP ADDR PORT` at `offset` (the ATYP byte); `size` is where it ends. IPv6 comes back
 * in RFC 5952 form, so messages name the address the way the policy does.
 */
function parseAddress(
  buf: Buffer,
  offset: number,
): Step<{ host: string; port: number; addressType: number }> {
  const type = buf[offset];
  if (type === undefined) return more;
  let start = offset + 1;
  let length: number;
  if (type === AddressType.ipv4) length = 4;
  else if (type === AddressType.ipv6) length = 16;
  else if (type === AddressType.domain) {
    const n = buf[start];
    if (n === undefined) return more;
    // An empty name would read as `localhost` to the resolver: no destination, a bad request.
    if (n === 0) return { kind: 'bad', code: Reply.generalFailure, reason: 'an empty domain name' };
    start += 1;
    length = n;
  } else {
    return { kind: 'bad', code: Reply.addressTypeNotSupported, reason: `address type ${type}` };
  }
  const end = start + length + 2;
  if (buf.length < end) return more;
  const bytes = buf.subarray(start, start + length);
  const host =
    type === AddressType.domain
      ? bytes.toString('utf8')
      : type === AddressType.ipv4
        ? bytes.join('.')
        : (ipaddr.fromByteArray([...bytes]) as ipaddr.IPv6).toRFC5952String();
  return { kind: 'done', value: { host, port: buf.readUInt16BE(end - 2), addressType: type }, size: end };
}
