import { describe, expect, it } from 'vitest';
import {
  bytesToUuid,
  formatCredentialsFile,
  formatToken,
  parseCredentialsFile,
  parseToken,
  uuidToBytes,
} from './credentials.js';

const secret = Buffer.alloc(32, 7);
const creds = {
  accountTag: '5ab4e9dfbd435d24068829fda0077963',
  tunnelSecret: secret,
  tunnelId: 'c1744f8b-faa1-48a4-9e5c-02ac921467fa',
  endpoint: '',
};

describe('credentials file', () => {
  it('writes cloudflared field names and reads them back', () => {
    const text = formatCredentialsFile(creds);
    expect(JSON.parse(text)).toEqual({
      AccountTag: creds.accountTag,
      TunnelSecret: secret.toString('base64'),
      TunnelID: creds.tunnelId,
    });
    expect(parseCredentialsFile(text)).toEqual(creds);
  });

  it('matches keys case-insensitively and ignores unknown ones', () => {
    const text = JSON.stringify({
      accounttag: creds.accountTag,
      TUNNELSECRET: secret.toString('base64'),
      tunnelID: creds.tunnelId.toUpperCase(),
      TunnelName: 'x',
    });
    expect(parseCredentialsFile(text)).toEqual(creds);
  });

  it('gives clear errors', () => {
    expect(() => parseCredentialsFile('{')).toThrow(/not valid JSON/);
    expect(() => parseCredentialsFile('[]')).toThrow(/not a JSON object/);
    expect(() =>
      parseCredentialsFile(
        JSON.stringify({ AccountTag: 'a', TunnelSecret: 'c2hvcnQ=', TunnelID: creds.tunnelId }),
      ),
    ).toThrow(/at least 32 bytes/);
    expect(() =>
      parseCredentialsFile(
        JSON.stringify({ AccountTag: 'a', TunnelSecret: secret.toString('base64'), TunnelID: 'nope' }),
      ),
    ).toThrow(/not a UUID/);
    expect(() =>
      parseCredentialsFile(
        JSON.stringify({ TunnelSecret: secret.toString('base64'), TunnelID: creds.tunnelId }),
      ),
    ).toThrow(/account tag/);
    expect(() =>
      parseCredentialsFile(
        JSON.stringify({ AccountTag: 'a', TunnelSecret: '!!!', TunnelID: creds.tunnelId }),
      ),
    ).toThrow(/base64/);
  });

  it('takes the tunnel id from elsewhere when an old file lacks it', () => {
    const text = JSON.stringify({ AccountTag: 'a', TunnelSecret: secret.toString('base64') });
    expect(parseCredentialsFile(text, creds.tunnelId).tunnelId).toBe(creds.tunnelId);
  });
});

describe('token', () => {
  it('is padded standard base64 of {a,s,t}', () => {
    const token = formatToken(creds);
    expect(JSON.parse(Buffer.from(token, 'base64').toString())).toEqual({
      a: creds.accountTag,
      s: secret.toString('base64'),
      t: creds.tunnelId,
    });
    expect(parseToken(token)).toEqual(creds);
    expect(parseToken(formatToken({ ...creds, endpoint: 'fed' })).endpoint).toBe('fed');
  });

  it('rejects malformed tokens clearly', () => {
    expect(() => parseToken('not base64!')).toThrow(/not standard base64/);
    expect(() => parseToken(Buffer.from('{"a":1}').toString('base64'))).toThrow(/account tag/);
    expect(() => parseToken(Buffer.from('hello').toString('base64'))).toThrow(/not valid JSON/);
  });
});

describe('uuid bytes', () => {
  it('round-trips', () => {
    const b = uuidToBytes(creds.tunnelId);
    expect(b.length).toBe(16);
    expect(bytesToUuid(b)).toBe(creds.tunnelId);
    expect(() => bytesToUuid(Buffer.alloc(3))).toThrow(/16 bytes/);
  });
});
