import { describe, expect, it } from 'vitest';
import { serviceUrl } from './dev.js';

describe('serviceUrl (the start-up banner)', () => {
  it('names a second service by a host that resolves: SERVICE.localhost', () => {
    expect(serviceUrl('http://127.0.0.1:8585', 'worker')).toBe('http://worker.localhost:8585');
    expect(serviceUrl('http://[::1]:8585', 'worker')).toBe('http://worker.localhost:8585');
    expect(serviceUrl('https://127.0.0.1:8443', 'api')).toBe('https://api.localhost:8443');
  });

  it('keeps the default service on the address itself', () => {
    expect(serviceUrl('http://127.0.0.1:8585', 'default')).toBe('http://127.0.0.1:8585');
  });

  it('says which Host to send on an address that is not loopback', () => {
    expect(serviceUrl('http://192.0.2.10:8080', 'worker')).toBe(
      'http://192.0.2.10:8080 (with Host: worker.localhost)',
    );
  });
});
