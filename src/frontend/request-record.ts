import type { IncomingMessage } from 'node:http';
import { newRequestId } from '../shared/request-id.js';
import type { RequestRecord } from '../shared/request-record.js';

/**
 * S5 step 1: a parsed request's id, clock and what the front end knows of it before any step
 * ran. The pipeline and the early rejections (CONNECT) fill in the rest as they go.
 */
export function newRequestRecord(req: IncomingMessage, secure: boolean): RequestRecord {
  const headers = req.headers;
  return {
    requestId: newRequestId(),
    startTime: Date.now(),
    method: req.method ?? 'GET',
    resource: req.url ?? '/',
    httpVersion: req.httpVersion,
    status: 0,
    latencyMs: 0,
    host: headers.host,
    userAgent: headers['user-agent'],
    ip: req.socket.remoteAddress,
    secure,
    bytesOut: 0,
  };
}
