/**
 * Framing for UDP sockets over the stream connection between shim and service: each datagram
 * (or command) is one frame of the shared codec (src/shared/frame-codec.ts), so a datagram's
 * boundaries survive the stream and its bytes are never re-encoded.
 */
import { FrameDecoder as Decoder } from '../shared/frame-codec.js';

export { encodeFrame, type Frame } from '../shared/frame-codec.js';

/** Largest payload a frame may carry: a UDP datagram is at most 65,535 bytes. */
export const MAX_PAYLOAD = 65_535;

/** A decoder with the UDP session's limits. */
export class FrameDecoder extends Decoder {
  constructor() {
    super({ maxHeaderBytes: 16 * 1024, maxPayloadBytes: MAX_PAYLOAD });
  }
}
