import { describe, expect, it } from 'vitest';
import { isEmail, nicknameOf, userIdFor } from './user-identity.js';

describe('userIdFor', () => {
  it('gives the same 21-digit id, starting with 1, for the same key', () => {
    const id = userIdFor('dev:alice@example.com');
    expect(id).toMatch(/^1\d{20}$/);
    expect(userIdFor('dev:alice@example.com')).toBe(id);
  });

  it('gives different keys different ids, always 21 digits', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = userIdFor(`dev:user${i}@example.com`);
      expect(id).toMatch(/^1\d{20}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(2000);
    expect(userIdFor('dev:alice@example.com')).not.toBe(userIdFor('dev:bob@example.com'));
    // The key is taken as given: callers lower-case emails themselves.
    expect(userIdFor('dev:alice@example.com')).not.toBe(userIdFor('dev:Alice@example.com'));
    expect(userIdFor('https://issuer.example|sub-1')).not.toBe(userIdFor('https://issuer.example|sub-2'));
    expect(userIdFor('')).toMatch(/^1\d{20}$/);
  });
});

describe('nicknameOf', () => {
  it.each<[string, string, string]>([
    ['alice@gmail.com', 'gmail.com', 'alice'],
    ['alice@GMail.COM', 'gmail.com', 'alice'],
    ['Alice.B@example.com', 'EXAMPLE.com', 'Alice.B'],
    ['bob@example.com', 'gmail.com', 'bob@example.com'],
    // A subdomain, or a domain that merely ends like the auth domain, is another domain.
    ['carol@mail.gmail.com', 'gmail.com', 'carol@mail.gmail.com'],
    ['dave@notgmail.com', 'gmail.com', 'dave@notgmail.com'],
    ['no-at-sign', 'gmail.com', 'no-at-sign'],
  ])('%s in %s → %s', (email, authDomain, nickname) => {
    expect(nicknameOf(email, authDomain)).toBe(nickname);
  });
});

describe('isEmail', () => {
  it.each<[string, boolean]>([
    ['test@example.com', true],
    ['a@b', true],
    ['first.last+tag@sub.example.co.uk', true],
    [`${'a'.repeat(244)}@example.c`, true], // 254 characters
    [`${'a'.repeat(245)}@example.c`, false], // 255
    ['', false],
    ['plain', false],
    ['@example.com', false],
    ['alice@', false],
    ['a@b@c', false],
    ['alice @example.com', false],
    ['alice@exa mple.com', false],
    ['alice@example.com\n', false],
  ])('%j → %s', (value, expected) => {
    expect(isEmail(value)).toBe(expected);
  });
});
