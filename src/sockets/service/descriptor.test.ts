/**
 * Descriptor strings (docs/sockets.md "Several nodes"): `hsk1.<id>.<secret>` on a single node,
 * `hsk2.<node>.<id>.<secret>` when the service is one node of a platform on a database.
 */
import { describe, expect, it } from 'vitest';
import { NODE_NAME } from '../ipc.js';
import { formatDescriptor, newDescriptorParts, parseDescriptor } from './registry.js';

const id = '0123456789abcdef';
const secret = 'fedcba9876543210fedcba9876543210';

describe('descriptors', () => {
  it('formats hsk1 without a node, exactly as a single node always has', () => {
    expect(formatDescriptor({ id, secret })).toBe(`hsk1.${id}.${secret}`);
    expect(formatDescriptor({ id, secret, node: undefined })).toBe(`hsk1.${id}.${secret}`);
  });

  it('formats hsk2 naming the node', () => {
    expect(formatDescriptor({ id, secret, node: 'eu-west-2' })).toBe(`hsk2.eu-west-2.${id}.${secret}`);
  });

  it('parses both forms back into their parts', () => {
    expect(parseDescriptor(`hsk1.${id}.${secret}`)).toEqual({ id, secret });
    expect(parseDescriptor(`hsk2.a.${id}.${secret}`)).toEqual({ node: 'a', id, secret });
    expect(parseDescriptor(`hsk2.node-7.${id}.${secret}`)).toEqual({ node: 'node-7', id, secret });
    const longest = 'n'.repeat(63);
    expect(parseDescriptor(`hsk2.${longest}.${id}.${secret}`)).toEqual({ node: longest, id, secret });
  });

  it('round-trips new parts with and without a node', () => {
    for (const node of [undefined, 'a', 'b-2']) {
      const parts = newDescriptorParts(node);
      expect(parts.node).toBe(node);
      expect(parts.id).toMatch(/^[0-9a-f]{16}$/);
      expect(parts.secret).toMatch(/^[0-9a-f]{32}$/);
      expect(parseDescriptor(formatDescriptor(parts))).toEqual(parts);
    }
    expect(formatDescriptor(newDescriptorParts())).toMatch(/^hsk1\.[0-9a-f]{16}\.[0-9a-f]{32}$/);
  });

  it('refuses what is neither form', () => {
    for (const text of [
      '',
      'not a descriptor',
      `hsk1.${id}.${secret}x`,
      `hsk1.${id.toUpperCase()}.${secret}`,
      `hsk1.a.${id}.${secret}`,
      `hsk2.${id}.${secret}`,
      `hsk2..${id}.${secret}`,
      `hsk2.A.${id}.${secret}`,
      `hsk2.a.b.${id}.${secret}`,
      `hsk2.-a.${id}.${secret}`,
      `hsk2.a_b.${id}.${secret}`,
      `hsk2.${'n'.repeat(64)}.${id}.${secret}`,
      `hsk3.a.${id}.${secret}`,
      ` hsk2.a.${id}.${secret}`,
      `hsk2.a.${id}.${secret}\n`,
    ]) {
      expect(parseDescriptor(text), text).toBeUndefined();
    }
  });

  it('node names: lower-case letters, digits and -, 1 to 63, not starting with -', () => {
    for (const good of ['a', '0', 'node-1', 'n'.repeat(63)]) expect(NODE_NAME.test(good), good).toBe(true);
    for (const bad of ['', '-a', 'A', 'a.b', 'a_b', 'a b', 'n'.repeat(64)])
      expect(NODE_NAME.test(bad), bad).toBe(false);
  });
});
