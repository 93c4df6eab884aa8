import { describe, expect, it } from 'vitest';
import { MessageBuilder } from '../capnp/builder.js';
import { decodeFrame } from '../capnp/framing.js';
import { encodeBootstrap, encodeFinish, encodeRelease } from '../rpc/messages.js';
import {
  readConnectionResponse,
  readRegisterConnectionParams,
  readRegisterUdpSessionParams,
  readRegisterUdpSessionResponse,
  readUnregisterUdpSessionParams,
  readUpdateConfigurationResponse,
  writeConnectionResponse,
  writeRegisterConnectionParams,
  writeRegisterUdpSessionParams,
  writeRegisterUdpSessionResponse,
  writeUnregisterUdpSessionParams,
  writeUpdateConfigurationResponse,
  type RegisterConnectionParams,
} from './tunnelrpc.js';

const hex = (s: string) => s.replace(/\s+/g, '');

/** Builds a root struct of the given size with `write`, then reads it back with `read`. */
function roundTrip<T>(
  d: number,
  p: number,
  write: (sb: ReturnType<MessageBuilder['initRoot']>) => void,
  read: (m: ReturnType<ReturnType<typeof decodeFrame>['root']>) => T,
): T {
  const mb = new MessageBuilder();
  write(mb.initRoot(d, p));
  return read(decodeFrame(mb.toFrame()).root());
}

describe('RPC messages, byte-exact', () => {
  it('Bootstrap{questionId 0}: Message D1/P1 tag 8, Bootstrap D1/P1', () => {
    expect(encodeBootstrap(0).toString('hex')).toBe(
      hex(`00000000 05000000
           00000000 01000100
           0800000000000000
           00000000 01000100
           0000000000000000
           0000000000000000`),
    );
  });

  it('Finish{1, releaseResultCaps false}: the flag is stored inverted', () => {
    expect(encodeFinish(1, false).toString('hex')).toBe(
      hex(`00000000 04000000
           00000000 01000100
           0400000000000000
           00000000 01000000
           01000000 01000000`),
    );
  });

  it('Release{id 0, count 1}', () => {
    expect(encodeRelease(0, 1).toString('hex').slice(-16)).toBe('0000000001000000');
  });
});

describe('registration structs', () => {
  const params: RegisterConnectionParams = {
    auth: { accountTag: 'acct', tunnelSecret: Buffer.alloc(32, 3) },
    tunnelId: Buffer.alloc(16, 4),
    connIndex: 2,
    options: {
      client: { clientId: Buffer.alloc(16, 5), features: ['a', 'b'], version: 'v', arch: 'linux_amd64' },
      originLocalIp: Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]),
      replaceExisting: true,
      compressionQuality: 0,
      numPreviousAttempts: 7,
    },
  };

  it('lays registerConnection params out as D1/P3 with connIndex in byte 0', () => {
    const mb = new MessageBuilder();
    writeRegisterConnectionParams(mb.initRoot(1, 3), params);
    const root = decodeFrame(mb.toFrame()).root();
    expect(root.dataBytes).toBe(8);
    expect(root.ptrCount).toBe(3);
    expect(root.u8(0)).toBe(2);
    const options = root.struct(2)!;
    expect([options.dataBytes, options.ptrCount]).toEqual([8, 2]);
    expect(options.bool(0)).toBe(true);
    expect(options.u8(2)).toBe(7);
    expect(readRegisterConnectionParams(root)).toEqual({
      ...params,
      auth: { accountTag: 'acct', tunnelSecret: Buffer.alloc(32, 3) },
    });
  });

  it('round-trips both ConnectionResponse variants (error: D2/P1, retryAfter @0, shouldRetry bit 64)', () => {
    const err = roundTrip(
      1,
      1,
      (sb) =>
        writeConnectionResponse(sb, {
          kind: 'error',
          error: { cause: 'EDUPCONN', retryAfter: 5n, shouldRetry: true },
        }),
      readConnectionResponse,
    );
    expect(err).toEqual({ kind: 'error', error: { cause: 'EDUPCONN', retryAfter: 5n, shouldRetry: true } });
    const ok = roundTrip(
      1,
      1,
      (sb) =>
        writeConnectionResponse(sb, {
          kind: 'connectionDetails',
          details: { uuid: Buffer.alloc(16, 9), locationName: 'SJC', tunnelIsRemotelyManaged: true },
        }),
      readConnectionResponse,
    );
    expect(ok).toEqual({
      kind: 'connectionDetails',
      details: { uuid: Buffer.alloc(16, 9), locationName: 'SJC', tunnelIsRemotelyManaged: true },
    });
  });

  it('round-trips the configuration and UDP session structs', () => {
    expect(
      roundTrip(
        1,
        1,
        (sb) => writeUpdateConfigurationResponse(sb, { latestAppliedVersion: -1, err: 'x' }),
        readUpdateConfigurationResponse,
      ),
    ).toEqual({
      latestAppliedVersion: -1,
      err: 'x',
    });
    expect(
      roundTrip(
        0,
        2,
        (sb) => writeRegisterUdpSessionResponse(sb, { err: 'no', spans: Buffer.from([1]) }),
        readRegisterUdpSessionResponse,
      ),
    ).toEqual({
      err: 'no',
      spans: Buffer.from([1]),
    });
    const udp = {
      sessionId: Buffer.alloc(16, 1),
      dstIp: Buffer.from([10, 0, 0, 1]),
      dstPort: 53,
      closeAfterIdleHint: 5_000_000_000n,
      traceContext: 't',
    };
    expect(
      roundTrip(2, 3, (sb) => writeRegisterUdpSessionParams(sb, udp), readRegisterUdpSessionParams),
    ).toEqual(udp);
    const un = { sessionId: Buffer.alloc(16, 2), message: 'bye' };
    expect(
      roundTrip(0, 2, (sb) => writeUnregisterUdpSessionParams(sb, un), readUnregisterUdpSessionParams),
    ).toEqual(un);
  });
});
