import { describe, expect, it } from 'vitest';
import { Expiry } from './expiry.js';

describe('Expiry', () => {
  it('fires once, to the listener it has then', () => {
    const expiry = new Expiry();
    const heard: string[] = [];
    expiry.listen((reason) => heard.push(`first ${reason.message}`));
    expiry.listen((reason) => heard.push(`second ${reason.message}`));
    expect(expiry.expired).toBe(false);
    expiry.fire(new Error('deadline'));
    expiry.fire(new Error('again'));
    expect(expiry.expired).toBe(true);
    expect(heard).toEqual(['second deadline']);
  });

  it('calls a listener added after it fired at once; a removed one never', () => {
    const removed = new Expiry();
    let called = false;
    removed.listen(() => {
      called = true;
    });
    removed.listen(undefined);
    removed.fire(new Error('deadline'));
    expect(called).toBe(false);
    const late: string[] = [];
    removed.listen((reason) => late.push(reason.message));
    expect(late).toEqual(['deadline']);
  });

  it('gives an AbortSignal that aborts with its reason', () => {
    const expiry = new Expiry();
    const signal = expiry.signal();
    expect(signal.aborted).toBe(false);
    const reason = new Error('deadline');
    expiry.fire(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(expiry.signal().reason).toBe(reason);
  });
});
