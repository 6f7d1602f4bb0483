/**
 * Trace context for S5 step 5: every forwarded request carries `X-Cloud-Trace-Context`
 * (`TRACE_ID/SPAN_ID;o=OPTIONS`, span id in decimal) and W3C `traceparent`
 * (`00-TRACE_ID-SPAN_ID-FLAGS`, span id in hex). A trace the client started (either header)
 * is continued; otherwise the request id, already 32 hex digits and unique, is the trace id.
 */
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  /** 16 hex digits: the front end's span, the parent of whatever the app does. */
  spanId: string;
  sampled: boolean;
}

const traceparentPattern = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;
const cloudTracePattern = /^([0-9a-fA-F]{32})(?:\/\d+)?(?:;o=([01]))?$/;
const zeroTrace = '0'.repeat(32);

/**
 * The trace this request belongs to, and a new span id for it.
 *
 * @example
 * traceContext(undefined, undefined, requestId) // { traceId: requestId, spanId: '9f…', sampled: false }
 */
export function traceContext(
  traceparent: string | undefined,
  cloudTrace: string | undefined,
  requestId: string,
): TraceContext {
  const spanId = newSpanId();
  if (traceparent !== undefined) {
    const m = traceparentPattern.exec(traceparent.trim());
    if (m && m[1] !== zeroTrace) {
      return { traceId: m[1]!, spanId, sampled: (Number.parseInt(m[2]!, 16) & 1) === 1 };
    }
  }
  if (cloudTrace !== undefined) {
    const m = cloudTracePattern.exec(cloudTrace.trim());
    if (m && m[1] !== zeroTrace) return { traceId: m[1]!.toLowerCase(), spanId, sampled: m[2] === '1' };
  }
  return { traceId: requestId.slice(0, 32), spanId, sampled: false };
}

/** `X-Cloud-Trace-Context` value: the span id in decimal, as Google's header has it. */
export function cloudTraceHeader(trace: TraceContext): string {
  return `${trace.traceId}/${BigInt(`0x${trace.spanId}`).toString()};o=${trace.sampled ? 1 : 0}`;
}

/** W3C `traceparent` value. */
export function traceparentHeader(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? '01' : '00'}`;
}

// Span ids come from a pooled random buffer: one getrandom call per 512 requests, not per request.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function newSpanId(): string {
  for (;;) {
    if (offset >= pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const id = pool.toString('hex', offset, offset + 8);
    offset += 8;
    if (id !== '0000000000000000') return id;
  }
}
