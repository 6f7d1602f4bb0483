/**
 * Framing for UDP sockets over the stream connection between shim and service: each datagram
 * (or command) is `[u32 header length][u32 payload length][JSON header][payload]`, so a
 * datagram's boundaries survive the stream and its bytes are never re-encoded.
 */

/** Largest payload a frame may carry: a UDP datagram is at most 65,535 bytes. */
export const MAX_PAYLOAD = 65_535;
const MAX_HEADER = 16 * 1024;

export interface Frame {
  header: Record<string, unknown>;
  payload: Buffer;
}

/** Encodes one frame. */
export function encodeFrame(header: Record<string, unknown>, payload: Buffer = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(json.length, 0);
  prefix.writeUInt32BE(payload.length, 4);
  return Buffer.concat([prefix, json, payload]);
}

/** Turns a stream of chunks back into frames; throws on a frame no peer of ours would send. */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);

  /** Adds a chunk and returns every frame it completed. */
  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.#buffer.length >= 8) {
      const headerLength = this.#buffer.readUInt32BE(0);
      const payloadLength = this.#buffer.readUInt32BE(4);
      if (headerLength > MAX_HEADER || payloadLength > MAX_PAYLOAD) {
        throw new Error(`frame too large (header ${headerLength}, payload ${payloadLength})`);
      }
      const total = 8 + headerLength + payloadLength;
      if (this.#buffer.length < total) break;
      const header = JSON.parse(this.#buffer.subarray(8, 8 + headerLength).toString('utf8')) as unknown;
      if (typeof header !== 'object' || header === null) throw new Error('frame header is not an object');
      frames.push({
        header: header as Record<string, unknown>,
        payload: Buffer.from(this.#buffer.subarray(8 + headerLength, total)),
      });
      this.#buffer = this.#buffer.subarray(total);
    }
    return frames;
  }
}
