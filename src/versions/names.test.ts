import { describe, expect, it } from 'vitest';
import { checkAppName, checkServiceName, checkVersionName } from './names.js';

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a refusal');
}

describe('deploy names', () => {
  it('accepts what app.yaml accepts', () => {
    expect(checkAppName('my-shop')).toBe('my-shop');
    expect(checkServiceName('default')).toBe('default');
    expect(checkServiceName('api-2')).toBe('api-2');
    expect(checkVersionName('v1')).toBe('v1');
    expect(checkVersionName('20260102t030405')).toBe('20260102t030405');
  });

  it('refuses what app.yaml refuses, with its message and fix', () => {
    const upper = refusal(() => checkVersionName('V1'));
    expect(upper).toMatchObject({ code: 'HANGAR_E_NAME_INVALID' });
    expect(upper.message).toMatch(/'V1' is not a valid version name.*; rename it, e\.g\. v1/);
    expect(refusal(() => checkVersionName('latest')).message).toMatch(/reserved/);
    expect(refusal(() => checkVersionName('ah-builtin')).message).toMatch(/ah-/);
    expect(refusal(() => checkServiceName('a-dot-b')).message).toMatch(/-dot-/);
    expect(refusal(() => checkAppName('1app')).message).toMatch(/not a valid application id/);
  });

  it('refuses names that could leave a directory or break a hostname', () => {
    for (const name of ['..', '../x', 'a/b', 'a.b', '', '-a', 'a\0']) {
      expect(
        refusal(() => checkServiceName(name)),
        JSON.stringify(name),
      ).toMatchObject({
        code: 'HANGAR_E_NAME_INVALID',
      });
      expect(
        refusal(() => checkVersionName(name)),
        JSON.stringify(name),
      ).toMatchObject({
        code: 'HANGAR_E_NAME_INVALID',
      });
      expect(
        refusal(() => checkAppName(name)),
        JSON.stringify(name),
      ).toMatchObject({
        code: 'HANGAR_E_NAME_INVALID',
      });
    }
  });

  it('refuses service and version names longer than a hostname label', () => {
    expect(refusal(() => checkServiceName('a'.repeat(64)))).toMatchObject({ code: 'HANGAR_E_NAME_INVALID' });
    expect(refusal(() => checkVersionName('a'.repeat(64)))).toMatchObject({ code: 'HANGAR_E_NAME_INVALID' });
  });

  it("refuses '-dot-' in an app id too, which app.yaml alone lets through", () => {
    expect(refusal(() => checkAppName('shop-dot-eu')).message).toMatch(/-dot-/);
  });
});
