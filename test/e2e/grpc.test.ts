import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import {
  echoClient,
  startGrpcServer,
  unary,
  type EchoClientT,
  type GrpcServer,
  type Msg,
} from '../helpers/grpc-echo.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { INGRESS_CLASS, caSecret, ingress, service, slice } from '../helpers/origins.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * gRPC from a real @grpc/grpc-js client at edge-sim's public port (HTTP/2 with prior knowledge) to a
 * real grpc-js server behind the agent (backend-protocol GRPC over h2c, GRPCS over TLS), on both
 * tunnel transports: the four call kinds, status and message in trailers, trailers-only errors,
 * custom metadata both ways, deadlines. QUIC carries the trailers through the negotiated extension.
 */
interface Stack {
  k: KubeProc;
  edge: EdgeSimProc;
  agent: AgentProc;
  plain: GrpcServer;
  secure: GrpcServer;
}

async function startStack(protocol: string, edgeExtra: string[] = []): Promise<Stack> {
  const pki = await createPki({ dnsNames: ['grpcs.test'], caName: 'grpc test CA' });
  const plain = await startGrpcServer();
  const secure = await startGrpcServer(
    grpc.ServerCredentials.createSsl(null, [
      { private_key: Buffer.from(pki.keyPem), cert_chain: Buffer.from(pki.certPem) },
    ]),
  );
  const k = await startKube();
  const edge = await startEdgeSim({
    tunnels: ['g'],
    routes: ['grpc.test=g', 'grpcs.test=g'],
    extra: edgeExtra,
  });
  await k.apply(
    [
      INGRESS_CLASS,
      service('echo'),
      slice('echo-1', 'echo', plain.port, [{}]),
      service('echo-tls'),
      slice('echo-tls-1', 'echo-tls', secure.port, [{}]),
      caSecret('grpc-ca', pki.caPem),
      ingress('grpc', [{ host: 'grpc.test', paths: [['/', 'Prefix', 'echo']] }], '', {
        'tunnel-ingress.dev/backend-protocol': 'GRPC',
      }),
      ingress('grpcs', [{ host: 'grpcs.test', paths: [['/', 'Prefix', 'echo-tls']] }], '', {
        'tunnel-ingress.dev/backend-protocol': 'GRPCS',
        'tunnel-ingress.dev/origin-ca-secret': 'grpc-ca',
      }),
    ].join('---\n'),
  );
  const agent = await startAgent(
    kubeAgentArgs(edge, 'g', k, ['--protocol', protocol, '--ha-connections', '1']),
    { waitReady: 1 },
  );
  return { k, edge, agent, plain, secure };
}

async function stopStack(s: Partial<Stack>): Promise<void> {
  await s.agent?.stop();
  await s.edge?.stop();
  await s.k?.stop();
  await s.plain?.stop();
  await s.secure?.stop();
}

describe.each(['http2', 'quic'])('gRPC over %s', (protocol) => {
  let s: Stack;
  let client: EchoClientT;

  beforeAll(async () => {
    s = await startStack(protocol);
    client = echoClient(s.edge.publicUrl, 'grpc.test');
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await stopStack(s ?? {});
  });

  it('unary: reply, headers and trailers with custom metadata', async () => {
    const md = new grpc.Metadata();
    md.set('x-client', 'vitest');
    const res = await unary(client, { text: 'hello' }, { metadata: md });
    expect(res.err).toBeUndefined();
    expect(res.reply).toEqual({ text: 'hello|vitest' });
    expect(res.headers?.get('x-server')).toEqual(['echo']);
    expect(res.trailers?.get('x-trailer')).toEqual(['from-trailers']);
  });

  it('an error carries its status, message and metadata in trailers', async () => {
    const res = await unary(client, { fail: true });
    expect(res.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(res.err?.details).toBe('you asked for a failure: ünïcode ok');
    expect(res.err?.metadata.get('x-why')).toEqual(['asked to fail']);
  });

  it('a trailers-only error (no route to the method) reaches the client as UNIMPLEMENTED', async () => {
    const res = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/test.Echo/Missing',
        (m: Msg) => Buffer.from(JSON.stringify(m)),
        (b: Buffer) => JSON.parse(b.toString()) as Msg,
        {},
        (err: grpc.ServiceError | null) => resolve(err),
      ),
    );
    expect(res?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('a deadline shorter than the call ends it with DEADLINE_EXCEEDED, promptly', async () => {
    const t0 = Date.now();
    const res = await unary(client, { text: 'slow', delayMs: 3000 }, { deadlineMs: 300 });
    expect(res.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(2500);
    // The tunnel is fine afterwards.
    expect((await unary(client, { text: 'after' })).reply?.text).toBe('after|');
  });

  it('server streaming: every message in order, then OK', async () => {
    const got: number[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.Count({ n: 50 });
      call.on('data', (m: Msg) => got.push(m.n as number));
      call.on('error', () => {});
      call.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.OK);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('client streaming: the server sees every message', async () => {
    const reply = await new Promise<Msg>((resolve, reject) => {
      const call = client.Sum((err, m) => (err === null ? resolve(m) : reject(err)));
      for (let i = 1; i <= 100; i++) call.write({ n: i });
      call.end();
    });
    expect(reply).toEqual({ n: 5050, text: '100 messages' });
  });

  it('bidirectional: each message answered before the next is sent', async () => {
    const call = client.Chat();
    const replies: string[] = [];
    for (let i = 0; i < 20; i++) {
      const next = new Promise<Msg>((resolve) => call.once('data', resolve));
      call.write({ text: `m${i}` });
      replies.push((await next).text as string);
    }
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `echo:m${i}`));
  });

  it('counts gRPC calls among the long-lived streams, one per call', async () => {
    const grpcTotal = async () => {
      const text = await (await fetch(`${s.agent.metricsUrl}/metrics`)).text();
      const m = /^tunnel_ingress_long_streams_total\{kind="grpc"\} (\d+)/m.exec(text);
      return Number(m?.[1] ?? 0);
    };
    const before = await grpcTotal();
    for (let i = 0; i < 3; i++) expect((await unary(client, { text: `n${i}` })).err).toBeUndefined();
    expect((await grpcTotal()) - before).toBe(3);
    const gauge = await (await fetch(`${s.agent.metricsUrl}/metrics`)).text();
    expect(gauge).toMatch(/^tunnel_ingress_long_streams\{kind="grpc"\} 0$/m);
  });

  it('GRPCS: the agent reaches a TLS gRPC server, verified against the Ingress CA', async () => {
    const tlsClient = echoClient(s.edge.publicUrl, 'grpcs.test');
    try {
      const res = await unary(tlsClient, { text: 'secure' });
      expect(res.err).toBeUndefined();
      expect(res.reply?.text).toBe('secure|');
      expect(res.trailers?.get('x-trailer')).toEqual(['from-trailers']);
    } finally {
      tlsClient.close();
    }
  });
});

describe('gRPC over QUIC to an edge without the trailers extension', () => {
  let s: Stack;
  let client: EchoClientT;

  beforeAll(async () => {
    s = await startStack('quic', ['--no-quic-trailers']);
    client = echoClient(s.edge.publicUrl, 'grpc.test');
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await stopStack(s ?? {});
  });

  it('fails at once with a clear status, and the origin never sees the call', async () => {
    const t0 = Date.now();
    const res = await unary(client, { text: 'hello' }, { deadlineMs: 8000 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(res.err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(res.err?.details).toContain('trailers');
    expect(res.err?.details).toContain('--protocol http2');
    expect(s.plain.calls).toBe(0);
  });
});
