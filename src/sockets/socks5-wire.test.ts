/** The SOCKS5 codec as a table: every message whole, cut short, and malformed. */
import { describe, expect, it } from 'vitest';
import {
  encodeAddress,
  encodeReply,
  encodeUdpDatagram,
  parseGreeting,
  parseRequest,
  parseUdpDatagram,
} from './socks5-wire.js';

const bytes = (...parts: Array<number | number[] | string>): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(typeof p === 'number' ? [p] : p))),
  );
const LOOPBACK6 = [...Array(15).fill(0), 1];

describe('parseGreeting', () => {
  it.each([
    ['nothing yet', bytes(), { kind: 'more' }],
    ['the version only', bytes(5), { kind: 'more' }],
    ['methods still coming', bytes(5, 2, 0), { kind: 'more' }],
    ['no authentication', bytes(5, 1, 0), { kind: 'done', value: { methods: [0] }, size: 3 }],
    ['two methods', bytes(5, 2, 2, 0), { kind: 'done', value: { methods: [2, 0] }, size: 4 }],
    ['followed by the request', bytes(5, 1, 0, 5, 1, 0), { kind: 'done', value: { methods: [0] }, size: 3 }],
    ['no method at all', bytes(5, 0), { kind: 'bad', code: 0xff, reason: 'the greeting offers no method' }],
    ['SOCKS4', bytes(4, 1), { kind: 'bad', code: 0xff, reason: 'SOCKS version 4 (only 5 is spoken)' }],
  ])('%s', (_, buf, expected) => {
    expect(parseGreeting(buf)).toEqual(expected);
  });
});

describe('parseRequest', () => {
  const v4 = bytes(5, 1, 0, 1, [127, 0, 0, 1], [0x1f, 0x90]);
  const v6 = bytes(5, 1, 0, 4, LOOPBACK6, [0, 80]);
  const name = bytes(5, 3, 0, 3, 9, 'echo.test', [0x01, 0xbb]);

  it.each([
    ['CONNECT to IPv4', v4, { command: 1, host: '127.0.0.1', port: 8080, addressType: 1 }, 10],
    ['CONNECT to IPv6, in RFC 5952 form', v6, { command: 1, host: '::1', port: 80, addressType: 4 }, 22],
    ['UDP ASSOCIATE by name', name, { command: 3, host: 'echo.test', port: 443, addressType: 3 }, 16],
    [
      'IPv6 written out in full',
      bytes(5, 2, 0, 4, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1], [0, 1]),
      { command: 2, host: '2001:db8::1', port: 1, addressType: 4 },
      22,
    ],
  ])('%s', (_, buf, value, size) => {
    expect(parseRequest(buf)).toEqual({ kind: 'done', value, size });
    // Every shorter prefix asks for more; bytes after the request are left alone.
    for (let n = 0; n < buf.length; n++) expect(parseRequest(buf.subarray(0, n))).toEqual({ kind: 'more' });
    expect(parseRequest(Buffer.concat([buf, Buffer.from('GET /')]))).toMatchObject({ kind: 'done', size });
  });

  it.each([
    ['an unknown address type is answered 0x08', bytes(5, 1, 0, 5, 1, 2, 3), 0x08],
    ['a request of another version is a general failure', bytes(4, 1, 0, 1), 0x01],
    ['an empty name is a general failure (it would read as localhost)', bytes(5, 1, 0, 3, 0, 0, 80), 0x01],
  ])('%s', (_, buf, code) => {
    expect(parseRequest(buf)).toMatchObject({ kind: 'bad', code });
  });

  it('leaves the command to the conversation (0x07 for one it does not carry out)', () => {
    expect(parseRequest(bytes(5, 9, 0, 1, [1, 2, 3, 4], [0, 1]))).toMatchObject({
      kind: 'done',
      value: { command: 9 },
    });
  });
});

describe('encodeReply', () => {
  it.each([
    ['a failure names 0.0.0.0:0', encodeReply(0x02), bytes(5, 2, 0, 1, [0, 0, 0, 0], [0, 0])],
    [
      'success with an IPv4 bound address',
      encodeReply(0, { address: '127.0.0.1', port: 1080 }),
      bytes(5, 0, 0, 1, [127, 0, 0, 1], [4, 56]),
    ],
    [
      'success with an IPv6 bound address',
      encodeReply(0, { address: '::1', port: 80 }),
      bytes(5, 0, 0, 4, LOOPBACK6, [0, 80]),
    ],
  ])('%s', (_, actual, expected) => {
    expect([...actual]).toEqual([...expected]);
  });

  it('encodes a name as ATYP 3, and refuses one SOCKS cannot carry', () => {
    expect([...encodeAddress('a.test', 7)]).toEqual([...bytes(3, 6, 'a.test', [0, 7])]);
    expect(() => encodeAddress('', 7)).toThrow(RangeError);
    expect(() => encodeAddress('a'.repeat(256), 7)).toThrow(RangeError);
  });
});

describe('UDP datagrams (RFC 1928 §7)', () => {
  it('parses what a client sends and encodes what goes back, by IPv4, IPv6 and name', () => {
    for (const host of ['127.0.0.1', '::1', 'echo.test']) {
      const payload = Buffer.from(`to ${host}`);
      const datagram = Buffer.concat([bytes(0, 0, 0), encodeAddress(host, 5353), payload]);
      expect(parseUdpDatagram(datagram)).toEqual({ frag: 0, host, port: 5353, payload });
    }
    expect([...encodeUdpDatagram('127.0.0.1', 53, Buffer.from('ok'))]).toEqual([
      ...bytes(0, 0, 0, 1, [127, 0, 0, 1], [0, 53], 'ok'),
    ]);
  });

  it('keeps FRAG for the relay to judge, and gives up on a header it cannot read', () => {
    expect(parseUdpDatagram(bytes(0, 0, 1, 1, [127, 0, 0, 1], [0, 53], 'x'))).toMatchObject({ frag: 1 });
    expect(parseUdpDatagram(bytes(0, 0, 0, 1, [127, 0, 0]))).toBeUndefined();
    expect(parseUdpDatagram(bytes(0, 0, 0, 7, [127, 0, 0, 1], [0, 53]))).toBeUndefined();
    expect(parseUdpDatagram(bytes(0, 0))).toBeUndefined();
    // A datagram with an empty payload is still a datagram.
    expect(parseUdpDatagram(bytes(0, 0, 0, 1, [127, 0, 0, 1], [0, 53]))).toMatchObject({
      payload: Buffer.alloc(0),
    });
  });
});
