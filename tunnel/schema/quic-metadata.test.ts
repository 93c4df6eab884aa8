import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../capnp/framing.js';
import {
  ConnectionType,
  decodeConnectRequest,
  decodeConnectResponse,
  encodeConnectRequest,
  encodeConnectResponse,
} from './quic-metadata.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('ConnectRequest', () => {
  it('encodes byte-exactly as the schema lays it out (D1/P2, dest p0, type u16 @0, metadata p1)', () => {
    const frame = encodeConnectRequest({
      dest: '/a',
      type: ConnectionType.Websocket,
      metadata: [{ key: 'k', val: 'v' }],
    });
    expect(frame.toString('hex')).toBe(
      hex(`
        00000000 0a000000
        0000000001000200
        0100000000000000
        050000001a000000
        0500000017000000
        2f61000000000000
        0400000000000200
        0500000012000000
        0500000012000000
        6b00000000000000
        7600000000000000`).toString('hex'),
    );
  });

  it('round-trips odd values', () => {
    const req = {
      dest: 'https://app.example.com/p%20ath?q=1&x=ü',
      type: ConnectionType.Http,
      metadata: [
        { key: 'HttpMethod', val: 'POST' },
        { key: 'HttpHost', val: 'app.example.com' },
        { key: 'HttpHeader:X-Empty', val: '' },
        { key: 'HttpHeader:X-Odd', val: 'a:b;c=d ✓' },
      ],
    };
    expect(decodeConnectRequest(decodeFrame(encodeConnectRequest(req)))).toEqual(req);
  });

  it('rejects an unknown connection type', () => {
    const frame = encodeConnectRequest({ dest: '/', type: ConnectionType.Http, metadata: [] });
    frame.writeUInt16LE(9, 16); // root data word, type field
    expect(() => decodeConnectRequest(decodeFrame(frame))).toThrow(/ConnectionType/);
  });
});

describe('ConnectResponse', () => {
  it('encodes error p0 and metadata p1 (D0/P2)', () => {
    const frame = encodeConnectResponse({ error: '', metadata: [{ key: 'HttpStatus', val: '200' }] });
    const msg = decodeFrame(frame);
    const root = msg.root();
    expect(root.dataBytes).toBe(0);
    expect(root.ptrCount).toBe(2);
    expect(root.hasPointer(0)).toBe(false); // an empty error is a null Text, as Go writes it
    expect(decodeConnectResponse(msg)).toEqual({ error: '', metadata: [{ key: 'HttpStatus', val: '200' }] });
  });

  it('round-trips an error', () => {
    const res = { error: 'Unable to reach the origin service', metadata: [] };
    expect(decodeConnectResponse(decodeFrame(encodeConnectResponse(res)))).toEqual(res);
  });
});
