import { describe, expect, it } from 'vitest';
import { adminUsers, parseTokenFile, TokenError } from './tokens.js';

describe('token auth file', () => {
  it("reads kube-apiserver's format, groups quoted, and adds the implicit groups", () => {
    const users = parseTokenFile(
      ['# agents', 'abc,system:serviceaccount:ti:agent,uid-1', 'def,alice,uid-2,"dev,ops"', ''].join('\n'),
    );
    expect(users.get('abc')).toEqual({
      name: 'system:serviceaccount:ti:agent',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:ti', 'system:authenticated'],
    });
    expect(users.get('def')).toEqual({ name: 'alice', groups: ['dev', 'ops', 'system:authenticated'] });
  });

  it.each([
    ['a line without a uid', 'abc,alice'],
    ['an empty user', 'abc,,uid'],
    ['an open quote', 'abc,alice,uid,"dev'],
    ['a token twice', 'abc,alice,u1\nabc,bob,u2'],
  ])('refuses %s with the line number', (_name, text) => {
    expect(() => parseTokenFile(text, 'tokens.csv')).toThrow(TokenError);
    expect(() => parseTokenFile(text, 'tokens.csv')).toThrow(/tokens\.csv line \d/);
  });

  it('makes --token tokens administrators', () => {
    expect(adminUsers(['x', 'y']).get('y')).toEqual({
      name: 'token-1',
      groups: ['system:masters', 'system:authenticated'],
    });
  });
});
