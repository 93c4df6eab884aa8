import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setUpGatewayApi, statusReader } from '../helpers/gateway-api.js';
import {
  echoClient,
  startGrpcServer,
  unary,
  type EchoClientT,
  type GrpcServer,
  type Msg,
} from '../helpers/grpc-echo.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { service, slice } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * GRPCRoute through the tunnel on both transports, against the real API server with the standard
 * channel's CRDs: a real @grpc/grpc-js client at edge-sim's public port, real grpc-js servers behind
 * the agent (h2c, the GRPCRoute default). Service and method matches (Exact and RE2), header matches,
 * the header filters both ways, server streaming, UNAVAILABLE for a backend that does not exist, and
 * the rule that of an HTTPRoute and a GRPCRoute sharing a hostname on one listener only the older is
 * accepted; statuses read with kubectl's jsonpath.
 */
const real = inject('kube').kind === 'kube-apiserver';

describe.skipIf(!real).each(['http2', 'quic'])('GRPCRoute over %s', (protocol) => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let a: GrpcServer;
  let b: GrpcServer;
  let controller: string;
  let className: string;
  const clients: EchoClientT[] = [];
  const client = (host: string) => {
    const c = echoClient(edge.publicUrl, host);
    clients.push(c);
    return c;
  };
  let status: ReturnType<typeof statusReader>;
  const jsonpath = (what: string, path: string) => status.jsonpath(what, path);
  const cond = (type: string, field: string) => status.cond(type, field);
  const until = (what: string, path: string, want: string, label: string) =>
    status.until(what, path, want, label);
  const call = (c: EchoClientT, path: string, req: Msg, md = new grpc.Metadata()) =>
    new Promise<{ err: grpc.ServiceError | null; reply?: Msg; headers?: grpc.Metadata }>((resolve) => {
      let headers: grpc.Metadata | undefined;
      const u = c.makeUnaryRequest(
        path,
        (m: Msg) => Buffer.from(JSON.stringify(m)),
        (buf: Buffer) => JSON.parse(buf.toString()) as Msg,
        req,
        md,
        { deadline: Date.now() + 10_000 },
        (err: grpc.ServiceError | null, reply?: Msg) => resolve({ err, reply, headers }),
      );
      u.on('metadata', (m: grpc.Metadata) => (headers = m));
    });

  beforeAll(async () => {
    [a, b] = await Promise.all([startGrpcServer(), startGrpcServer()]);
    k = await startKube();
    let gatewayClass: string;
    ({ controller, className, gatewayClass } = await setUpGatewayApi(k, 'grpcroutes'));
    status = statusReader(k, controller);
    edge = await startEdgeSim({
      tunnels: ['g'],
      routes: ['rpc.test', 'missing.test', 'both.test'].map((h) => `${h}=g`),
    });
    await k.apply(
      [
        service('rpc-a'),
        service('rpc-b'),
        slice('rpc-a-1', 'rpc-a', a.port, [{}]),
        slice('rpc-b-1', 'rpc-b', b.port, [{}]),
        `apiVersion: v1
kind: Service
metadata: {name: rpc-h2c}
spec: {ports: [{name: http, port: 80, appProtocol: kubernetes.io/h2c}]}
`,
        slice('rpc-h2c-1', 'rpc-h2c', a.port, [{}]),
        gatewayClass,
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: ${className}
  listeners: [{name: http, port: 80, protocol: HTTP}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: rpc}
spec:
  parentRefs: [{name: edge}]
  hostnames: [rpc.test]
  rules:
    - matches: [{method: {service: test.Echo, method: Unary}, headers: [{name: x-tenant, value: blue}]}]
      backendRefs: [{name: rpc-b, port: 80}]
    - matches: [{method: {service: test.Echo, method: Unary}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: x-client, value: by-route}]}
        - type: ResponseHeaderModifier
          responseHeaderModifier: {add: [{name: x-served-by, value: gateway}]}
      backendRefs: [{name: rpc-a, port: 80}]
    - matches: [{method: {type: RegularExpression, service: "test\\\\.E.*", method: "Cou.*"}}]
      backendRefs: [{name: rpc-b, port: 80}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: missing}
spec:
  parentRefs: [{name: edge}]
  hostnames: [missing.test]
  rules: [{backendRefs: [{name: no-such-service, port: 80}]}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: both-http}
spec:
  parentRefs: [{name: edge}]
  hostnames: [both.test]
  rules: [{backendRefs: [{name: rpc-h2c, port: 80}]}]
`,
      ].join('---\n'),
    );
    // Created after the HTTPRoute (creation timestamps have one-second resolution): the newer one.
    await new Promise((r) => setTimeout(r, 1100));
    await k.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: both-grpc}
spec:
  parentRefs: [{name: edge}]
  hostnames: [both.test]
  rules: [{backendRefs: [{name: rpc-b, port: 80}]}]
`);
    agent = await startAgent(
      kubeAgentArgs(edge, 'g', k.agentKubeconfig, [
        '--protocol',
        protocol,
        '--ha-connections',
        '1',
        '--leader-election-namespace',
        k.namespace,
        '--ingress-class',
        className,
        '--gateway-controller-name',
        controller,
      ]),
      { waitReady: 1 },
    );
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await agent?.stop();
    await edge?.stop();
    await k?.kubectl(['delete', 'gatewayclass', className, '--ignore-not-found']);
    await k?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('accepts the GRPCRoute and lists GRPCRoute among the supported features and listener kinds', async () => {
    await until('grpcroute rpc', cond('Accepted', 'status'), 'True', 'rpc Accepted');
    expect(await jsonpath('grpcroute rpc', cond('ResolvedRefs', 'status'))).toBe('True');
    await until(
      `gatewayclass ${className}`,
      '{.status.conditions[?(@.type=="Accepted")].status}',
      'True',
      'class',
    );
    expect(
      (await jsonpath(`gatewayclass ${className}`, '{.status.supportedFeatures[*].name}')).split(' '),
    ).toContain('GRPCRoute');
    expect(await jsonpath('gateway edge', '{.status.listeners[0].supportedKinds[*].kind}')).toBe(
      'GRPCRoute HTTPRoute',
    );
  });

  it('routes by service, method and header, and applies the header filters both ways', async () => {
    const c = client('rpc.test');
    await waitUntil(
      async () => ((await unary(c, { text: 'x' })).reply !== undefined ? true : undefined),
      15_000,
      'route',
    );
    const aBefore = a.calls;
    const bBefore = b.calls;
    const md = new grpc.Metadata();
    md.set('x-client', 'visitor');
    const res = await call(c, '/test.Echo/Unary', { text: 'hi' }, md);
    expect(res.err).toBeNull();
    // The request filter replaced the client's metadata; the response filter added a header.
    expect(res.reply).toEqual({ text: 'hi|by-route' });
    expect(res.headers?.get('x-served-by')).toEqual(['gateway']);
    expect(a.calls - aBefore).toBe(1);
    const blue = new grpc.Metadata();
    blue.set('x-tenant', 'blue');
    expect((await call(c, '/test.Echo/Unary', { text: 'b' }, blue)).err).toBeNull();
    expect(b.calls - bBefore).toBe(1);
    // The regular expression rule: a server stream, every message through the tunnel.
    const got: number[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const s = c.Count({ n: 20 });
      s.on('data', (m: Msg) => got.push(m.n as number));
      s.on('error', () => {});
      s.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.OK);
    expect(got).toEqual([...Array(20).keys()]);
    expect(b.calls - bBefore).toBe(2);
    // A method no rule matches: UNIMPLEMENTED, as from a server without it.
    expect((await call(c, '/test.Echo/Sum', {})).err?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('answers UNAVAILABLE for a backend that does not exist, and says BackendNotFound', async () => {
    await until('grpcroute missing', cond('ResolvedRefs', 'reason'), 'BackendNotFound', 'missing');
    expect(await jsonpath('grpcroute missing', cond('Accepted', 'status'))).toBe('True');
    const res = await call(client('missing.test'), '/test.Echo/Unary', { text: 'x' });
    expect(res.err?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('accepts only the older of an HTTPRoute and a GRPCRoute sharing a hostname on one listener', async () => {
    await until('grpcroute both-grpc', cond('Accepted', 'reason'), 'NotAllowedByListeners', 'both-grpc');
    expect(await jsonpath('httproute both-http', cond('Accepted', 'status'))).toBe('True');
    // The HTTPRoute serves the host (to server a through an h2c Service port), not the GRPCRoute (b).
    const aBefore = a.calls;
    const bBefore = b.calls;
    const res = await call(client('both.test'), '/test.Echo/Unary', { text: 'x' });
    expect(res.err).toBeNull();
    expect(a.calls - aBefore).toBe(1);
    expect(b.calls - bBefore).toBe(0);
  });
});
