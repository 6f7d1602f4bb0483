import { describe, expect, it } from 'vitest';
import { classifyLine } from './entrypoint.js';

const traces = new Map([['0123456789abcdef0123456789abcdef', 'req-by-trace']]);
const byTrace = (trace: string) => traces.get(trace);

describe('classifyLine (S4.3: output lines of an app’s own server)', () => {
  it('files a JSON line with severity and requestId under that request, at its level', () => {
    expect(classifyLine('{"severity":"WARNING","message":"slow","requestId":"r1"}', 'info', byTrace)).toEqual(
      {
        requestId: 'r1',
        level: 'warning',
        message: 'slow',
      },
    );
    expect(
      classifyLine('{"severity":"critical","message":"down","requestId":"r2"}', 'info', byTrace),
    ).toMatchObject({
      level: 'critical',
    });
  });

  it('finds the request of a logging.googleapis.com/trace, bare or as projects/P/traces/T', () => {
    for (const trace of [
      'projects/demo/traces/0123456789abcdef0123456789abcdef',
      '0123456789abcdef0123456789abcdef',
    ]) {
      expect(
        classifyLine(
          JSON.stringify({ severity: 'ERROR', message: 'x', 'logging.googleapis.com/trace': trace }),
          'info',
          byTrace,
        ),
      ).toEqual({ requestId: 'req-by-trace', level: 'error', message: 'x' });
    }
    // An unknown trace: an instance line at its severity.
    expect(
      classifyLine(
        '{"severity":"ERROR","message":"x","logging.googleapis.com/trace":"projects/p/traces/ff"}',
        'info',
        byTrace,
      ),
    ).toEqual({ level: 'error', message: 'x' });
  });

  it('keeps anything else as an instance line at the stream’s level, whole', () => {
    for (const line of [
      'plain text',
      '{"message":"no severity"}',
      '{"severity":"LOUD","message":"unknown"}',
      '{not json',
      '[1,2]',
      '',
    ]) {
      expect(classifyLine(line, 'error', byTrace)).toEqual({ level: 'error', message: line });
    }
    // textPayload is a message too; a line without one keeps the whole JSON.
    expect(classifyLine('{"severity":"INFO","textPayload":"tp"}', 'error', byTrace)).toEqual({
      level: 'info',
      message: 'tp',
    });
    expect(classifyLine('{"severity":"INFO","n":1}', 'error', byTrace)).toEqual({
      level: 'info',
      message: '{"severity":"INFO","n":1}',
    });
  });
});
