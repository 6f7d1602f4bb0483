import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeFrameParts, FrameDecoder } from './frame-codec.js';

const limits = { maxHeaderBytes: 1024, maxPayloadBytes: 1024 * 1024 };

describe('frame codec', () => {
  it('decodes frames however the stream is cut, payload bytes unchanged', () => {
    const payloads = [Buffer.alloc(0), Buffer.from('héllo'), Buffer.alloc(70_000, 7)];
    const stream = Buffer.concat(payloads.map((p, i) => encodeFrame({ id: i, name: 'ü' }, p)));
    for (const size of [1, 3, 8, 9, 1000, stream.length]) {
      const decoder = new FrameDecoder(limits);
      const frames: Array<{ header: unknown; payload: Buffer }> = [];
      for (let at = 0; at < stream.length; at += size)
        frames.push(...decoder.push(stream.subarray(at, at + size)));
      expect(frames.map((f) => f.header)).toEqual(payloads.map((_, i) => ({ id: i, name: 'ü' })));
      expect(frames.map((f) => Buffer.compare(f.payload, payloads[frames.indexOf(f)]!))).toEqual([0, 0, 0]);
    }
  });

  it('encodes a frame as parts without copying the payload', () => {
    const payload = Buffer.from('body');
    const [head, body] = encodeFrameParts({ a: 1 }, payload);
    expect(body).toBe(payload);
    expect(head!.readUInt32BE(0)).toBe(Buffer.byteLength('{"a":1}'));
    expect(head!.readUInt32BE(4)).toBe(4);
    const chunks = [Buffer.from('bo'), Buffer.from('dy!')];
    const parts = encodeFrameParts({ a: 1 }, chunks);
    expect(parts.slice(1)).toEqual(chunks);
    const [frame] = new FrameDecoder(limits).push(Buffer.concat(parts));
    expect(frame!.payload.toString()).toBe('body!');
  });

  it('refuses frames over its limits and headers that are not objects', () => {
    expect(() => new FrameDecoder(limits).push(encodeFrame({ big: 'x'.repeat(2000) }))).toThrow(
      /frame too large/,
    );
    expect(() =>
      new FrameDecoder(limits).push(encodeFrame({}, Buffer.alloc(limits.maxPayloadBytes + 1))),
    ).toThrow(/frame too large/);
    const notObject = Buffer.alloc(8 + 4);
    notObject.writeUInt32BE(4, 0);
    notObject.write('null', 8);
    expect(() => new FrameDecoder(limits).push(notObject)).toThrow(/not an object/);
  });
});
