import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConnectionType } from '../schema/quic-metadata.js';
import { pathOf, requestFromConnect } from './quic-request.js';
import type { QuicStream } from './quic-stream.js';

describe('QUIC requests', () => {
  it.each([
    ['/plain?q=1', '/plain?q=1'],
    ['https://app.example.com/p%20ath/%E2%9C%93?x=%41', '/p%20ath/%E2%9C%93?x=%41'],
    ['http://h', '/'],
    ['http://h?q=1', '/?q=1'],
    ['http://h:8080/a/b', '/a/b'],
  ])('takes the path of dest %s', (dest, path) => {
    expect(pathOf(dest)).toBe(path);
  });

  it('turns metadata into headers, repeated values kept, and knows when there is a body', () => {
    const stream = new PassThrough() as unknown as QuicStream;
    const req = requestFromConnect(stream, {
      dest: 'http://a.test/x',
      type: ConnectionType.Http,
      metadata: [
        { key: 'HttpMethod', val: 'POST' },
        { key: 'HttpHost', val: 'a.test' },
        { key: 'HttpHeader:Accept', val: 'a' },
        { key: 'HttpHeader:Accept', val: 'b' },
        { key: 'HttpHeader:Content-Length', val: '5' },
        { key: 'HttpHeader:Cf-Cloudflared-Proxy-Connection-Upgrade', val: 'x' },
      ],
    });
    expect(req.headers).toMatchObject({
      ':method': 'POST',
      ':authority': 'a.test',
      ':path': '/x',
      accept: ['a', 'b'],
      'content-length': '5',
    });
    expect(req.headers['cf-cloudflared-proxy-connection-upgrade']).toBeUndefined();
    expect(req.hasBody).toBe(true);
    const noBody = requestFromConnect(new PassThrough() as unknown as QuicStream, {
      dest: '/',
      type: ConnectionType.Http,
      metadata: [{ key: 'HttpHeader:Content-Length', val: '0' }],
    });
    expect(noBody.hasBody).toBe(false);
    expect(noBody.headers[':method']).toBe('GET');
  });
});
