/**
 * Length-prefixed frames over a byte stream: `[u32 header length][u32 payload length]
 * [JSON header][payload]`. A frame's boundaries survive the stream and its payload is never
 * re-encoded. Used by the request channel (front end ↔ instance) and by the socket service's
 * UDP sessions.
 */

export interface Frame<Header = Record<string, unknown>> {
  header: Header;
  /** A view into the received bytes; copy it to keep it past the next push(). */
  payload: Buffer;
}

export interface FrameLimits {
  maxHeaderBytes: number;
  maxPayloadBytes: number;
}

const empty = Buffer.alloc(0);

/**
 * Encodes one frame as buffers to write in order: prefix and header, then the payload as given
 * (one buffer or the chunks it arrived in), so a big payload is never copied.
 */
export function encodeFrameParts(header: object, payload: Buffer | readonly Buffer[] = empty): Buffer[] {
  const json = JSON.stringify(header);
  const length = Buffer.byteLength(json);
  const head = Buffer.allocUnsafe(8 + length);
  head.writeUInt32BE(length, 0);
  let payloadLength = 0;
  if (Buffer.isBuffer(payload)) payloadLength = payload.length;
  else for (const chunk of payload) payloadLength += chunk.length;
  head.writeUInt32BE(payloadLength, 4);
  head.write(json, 8, 'utf8');
  return Buffer.isBuffer(payload) ? [head, payload] : [head, ...payload];
}

/** Encodes one frame as one buffer. */
export function encodeFrame(header: object, payload: Buffer = empty): Buffer {
  const parts = encodeFrameParts(header, payload);
  return parts.length === 1 || payload.length === 0 ? parts[0]! : Buffer.concat(parts);
}

/**
 * Turns a stream of chunks back into frames. Chunks are joined only once a whole frame is there,
 * so a frame of many megabytes is copied once, not once per chunk. Throws on a frame over the
 * limits or a header that is not a JSON object: no peer of ours sends one, and the stream's
 * framing cannot be trusted after it.
 */
export class FrameDecoder<Header = Record<string, unknown>> {
  readonly #limits: FrameLimits;
  #chunks: Buffer[] = [];
  #size = 0;
  /** Bytes needed before another frame can complete. */
  #need = 8;

  constructor(limits: FrameLimits) {
    this.#limits = limits;
  }

  /** Adds a chunk and returns every frame it completed. */
  push(chunk: Buffer): Array<Frame<Header>> {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size < this.#need) return [];
    const buffer = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
    const frames: Array<Frame<Header>> = [];
    let offset = 0;
    for (;;) {
      const left = buffer.length - offset;
      if (left < 8) {
        this.#need = 8;
        break;
      }
      const headerLength = buffer.readUInt32BE(offset);
      const payloadLength = buffer.readUInt32BE(offset + 4);
      if (headerLength > this.#limits.maxHeaderBytes || payloadLength > this.#limits.maxPayloadBytes) {
        throw new Error(`frame too large (header ${headerLength}, payload ${payloadLength})`);
      }
      const total = 8 + headerLength + payloadLength;
      if (left < total) {
        this.#need = total;
        break;
      }
      const header: unknown = JSON.parse(buffer.toString('utf8', offset + 8, offset + 8 + headerLength));
      if (typeof header !== 'object' || header === null) throw new Error('frame header is not an object');
      frames.push({
        header: header as Header,
        payload: buffer.subarray(offset + 8 + headerLength, offset + total),
      });
      offset += total;
    }
    const rest = offset === buffer.length ? empty : buffer.subarray(offset);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#size = rest.length;
    return frames;
  }
}
