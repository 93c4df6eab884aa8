import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../capnp/framing.js';
import {
  callRegisterConnection,
  callUnregisterConnection,
  callUpdateConfiguration,
  callUpdateLocalConfiguration,
  cloudflaredServer,
  registrationServer,
  type RegistrationHandler,
} from '../registration.js';
import {
  RegistrationServerId,
  SessionManagerId,
  readRegisterUdpSessionResponse,
  type RegisterConnectionParams,
} from '../schema/tunnelrpc.js';
import { MessageTag, decodeRpcMessage, encodeBootstrap } from './messages.js';
import { RpcConnection } from './rpc-connection.js';
import { isTunnelError } from '../errors.js';

/** Two connections joined back to back; frames are delivered asynchronously, as on a socket. */
function pair(server: ConstructorParameters<typeof RpcConnection>[0]['bootstrap']) {
  const sentByClient: Buffer[] = [];
  const sentByServer: Buffer[] = [];
  let clientRef: RpcConnection | null = null;
  const srv = new RpcConnection({
    peer: 'origin',
    bootstrap: server,
    send: (f) => {
      sentByServer.push(f);
      setImmediate(() => clientRef?.receive(f));
    },
  });
  const client = new RpcConnection({
    peer: 'edge',
    send: (f) => {
      sentByClient.push(f);
      setImmediate(() => srv.receive(f));
    },
  });
  clientRef = client;
  return { client, srv, sentByClient, sentByServer };
}

const params: RegisterConnectionParams = {
  auth: { accountTag: 'acct', tunnelSecret: Buffer.alloc(32, 1) },
  tunnelId: Buffer.alloc(16, 2),
  connIndex: 3,
  options: {
    client: {
      clientId: Buffer.alloc(16, 9),
      features: ['serialized_headers', 'support_quic_eof'],
      version: '2023.7.3',
      arch: 'linux_amd64',
    },
    originLocalIp: Buffer.alloc(0),
    replaceExisting: false,
    compressionQuality: 0,
    numPreviousAttempts: 2,
  },
};

describe('registration over RPC', () => {
  it('runs the whole sequence with the call pipelined on an unanswered bootstrap', async () => {
    const seen: RegisterConnectionParams[] = [];
    let unregistered = 0;
    let localConfig = '';
    const handler: RegistrationHandler = {
      async registerConnection(p) {
        seen.push(p);
        return {
          kind: 'connectionDetails',
          details: { uuid: Buffer.alloc(16, 5), locationName: 'SIM', tunnelIsRemotelyManaged: false },
        };
      },
      async unregisterConnection() {
        unregistered++;
      },
      async updateLocalConfiguration(c) {
        localConfig = c.toString();
      },
    };
    const { client, sentByClient, sentByServer } = pair(registrationServer(handler));
    const cap = client.bootstrap();
    const responsePromise = callRegisterConnection(client, cap, params);
    // Both messages left before any answer, the call addressed to the unanswered bootstrap.
    expect(sentByClient).toHaveLength(2);
    const call = decodeRpcMessage(decodeFrame(sentByClient[1]!));
    expect(call.tag).toBe(MessageTag.Call);
    if (call.tag === MessageTag.Call) {
      expect(call.target).toEqual({ kind: 'promisedAnswer', questionId: 0, transform: [] });
      expect(call.interfaceId).toBe(RegistrationServerId);
      expect(call.methodId).toBe(0);
      expect(call.questionId).toBe(1);
    }
    const response = await responsePromise;
    expect(response).toEqual({
      kind: 'connectionDetails',
      details: { uuid: Buffer.alloc(16, 5), locationName: 'SIM', tunnelIsRemotelyManaged: false },
    });
    expect(seen[0]).toMatchObject({ connIndex: 3, auth: { accountTag: 'acct' } });
    expect(Buffer.from(seen[0]!.tunnelId)).toEqual(Buffer.alloc(16, 2));
    expect(seen[0]!.options.client.features).toEqual(['serialized_headers', 'support_quic_eof']);
    expect(seen[0]!.options.numPreviousAttempts).toBe(2);

    // The bootstrap Return hands out export 0 as senderHosted with a capability pointer.
    const bootReturn = decodeRpcMessage(decodeFrame(sentByServer[0]!));
    expect(bootReturn).toMatchObject({ tag: MessageTag.Return, answerId: 0, kind: 'results', contentCap: 0 });
    if (bootReturn.tag === MessageTag.Return && bootReturn.kind === 'results') {
      expect(bootReturn.capTable).toEqual([{ tag: 1, id: 0 }]);
    }
    // The capability word is exactly 0x0000000000000003.
    const seg = decodeFrame(sentByServer[0]!).segments[0]!;
    expect(seg.indexOf(Buffer.from('0300000000000000', 'hex'))).toBeGreaterThan(0);

    // Later calls target the imported capability.
    await callUpdateLocalConfiguration(client, cap, Buffer.from('{"ingress":[]}'));
    expect(localConfig).toBe('{"ingress":[]}');
    await callUnregisterConnection(client, cap);
    expect(unregistered).toBe(1);
    const last = decodeRpcMessage(decodeFrame(sentByClient.at(-2)!));
    expect(last).toMatchObject({ tag: MessageTag.Call, target: { kind: 'importedCap', id: 0 } });
  });

  it('carries a registration error with its cause, retry hint and flag', async () => {
    const { client } = pair(
      registrationServer({
        async registerConnection() {
          return {
            kind: 'error',
            error: { cause: 'EDUPCONN', retryAfter: 2_000_000_000n, shouldRetry: true },
          };
        },
        async unregisterConnection() {},
        async updateLocalConfiguration() {},
      }),
    );
    const res = await callRegisterConnection(client, client.bootstrap(), params);
    expect(res).toEqual({
      kind: 'error',
      error: { cause: 'EDUPCONN', retryAfter: 2_000_000_000n, shouldRetry: true },
    });
  });

  it('turns a thrown handler error into an exception Return', async () => {
    const { client } = pair(
      registrationServer({
        async registerConnection() {
          throw new Error('boom');
        },
        async unregisterConnection() {},
        async updateLocalConfiguration() {},
      }),
    );
    await expect(callRegisterConnection(client, client.bootstrap(), params)).rejects.toThrow(
      /remote exception: boom/,
    );
  });

  it('serves updateConfiguration as the agent (edge is the client)', async () => {
    const { client } = pair(
      cloudflaredServer({
        async updateConfiguration(version, config) {
          return { latestAppliedVersion: version, err: config.toString() === '{}' ? '' : 'bad' };
        },
      }),
    );
    const res = await callUpdateConfiguration(client, client.bootstrap(), 7, Buffer.from('{}'));
    expect(res).toEqual({ latestAppliedVersion: 7, err: '' });
  });

  it('aborts on garbage and fails pending calls, without throwing', async () => {
    let closedWith: Error | null = null;
    const conn = new RpcConnection({ peer: 'edge', send: () => {}, onClose: (e) => (closedWith = e) });
    const cap = conn.bootstrap();
    const pending = callUnregisterConnection(conn, cap);
    conn.receive(Buffer.from('0000000001000000ffffffffffffffff', 'hex'));
    await expect(pending).rejects.toThrow();
    expect(conn.isClosed).toBe(true);
    expect(closedWith).not.toBeNull();
  });

  it('answers an unknown message with unimplemented and keeps going', () => {
    const sent: Buffer[] = [];
    const conn = new RpcConnection({ peer: 'edge', send: (f) => sent.push(f) });
    const frame = encodeBootstrap(0);
    frame.writeUInt16LE(12, 16); // turn the Bootstrap into a Join
    conn.receive(frame);
    expect(sent).toHaveLength(1);
    const back = decodeRpcMessage(decodeFrame(sent[0]!));
    expect(back.tag).toBe(MessageTag.Unimplemented);
    expect(conn.isClosed).toBe(false);
  });
});

describe('UDP sessions', () => {
  it('answers registerUdpSession with an error instead of hanging the edge', async () => {
    const { client } = pair(
      cloudflaredServer({
        async updateConfiguration() {
          return { latestAppliedVersion: 0, err: '' };
        },
      }),
    );
    const { content } = await client.call(client.bootstrap(), SessionManagerId, 0, {
      dataWords: 2,
      ptrCount: 3,
      write: (sb) => sb.setU16(0, 53),
    });
    expect(readRegisterUdpSessionResponse(content!.struct(0)!).err).toMatch(/not supported/);
  });
});

describe('RPC fuzz', () => {
  it('random frames only abort the connection with a typed error, never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        let closedWith: Error | null | undefined;
        const rpc = new RpcConnection({ peer: 'edge', send: () => {}, onClose: (e) => (closedWith = e) });
        for (const c of chunks) rpc.receive(Buffer.from(c));
        if (closedWith !== undefined && closedWith !== null) expect(isTunnelError(closedWith)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
