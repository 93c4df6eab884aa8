import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, startKube, type KubeProc } from '../helpers/kube.js';
import { INGRESS_CLASS, countingOrigin, service, slice, type CountingOrigin } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * Every Ingress field the API server accepts but the agent cannot serve as written, set wrong one at
 * a time, each in an Ingress of its own beside a healthy path: each gets a Warning Event naming the
 * field, its healthy path still serves, and so does every other Ingress. (What the API server itself
 * refuses, such as an unknown pathType, never reaches the agent; kube-sim refuses it the same way.)
 */
type Obj = Record<string, unknown>;
const A = 'tunnel-ingress.dev/';
const ok = { path: '/ok', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } };
const bad = (backend: Obj, path = '/bad', pathType = 'Prefix') => ({ path, pathType, backend });

interface Case {
  name: string;
  reason: string;
  /** what the Event's message must say */
  says: string;
  paths?: Obj[];
  annotations?: Record<string, string>;
  spec?: Obj;
  host?: string;
}

const CASES: Case[] = [
  {
    name: 'missing-service',
    reason: 'ServiceNotFound',
    says: 'Service default/nowhere does not exist',
    paths: [bad({ service: { name: 'nowhere', port: { number: 80 } } })],
  },
  {
    name: 'unknown-port-number',
    reason: 'UnknownServicePort',
    says: 'has no port 8081',
    paths: [bad({ service: { name: 'web', port: { number: 8081 } } })],
  },
  {
    name: 'unknown-port-name',
    reason: 'UnknownServicePort',
    says: 'has no port grpc',
    paths: [bad({ service: { name: 'web', port: { name: 'grpc' } } })],
  },
  {
    name: 'resource-backend',
    reason: 'UnsupportedBackend',
    says: 'resource backends (StorageBucket/assets) are not supported',
    paths: [bad({ resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'assets' } })],
  },
  {
    name: 'bad-path',
    reason: 'InvalidPath',
    says: 'must be an absolute path',
    paths: [bad({ service: { name: 'web', port: { name: 'http' } } }, '/a//b', 'ImplementationSpecific')],
  },
  {
    name: 'conflicting-rule',
    reason: 'ConflictingRule',
    says: 'is already served by the older Ingress default/good',
    host: 'good.test',
    paths: [bad({ service: { name: 'web', port: { name: 'http' } } }, '/', 'Prefix')],
  },
  {
    name: 'second-default-backend',
    reason: 'ConflictingDefaultBackend',
    says: 'spec.defaultBackend is ignored',
    spec: { defaultBackend: { service: { name: 'web', port: { name: 'http' } } } },
  },
  {
    name: 'backend-protocol',
    reason: 'InvalidAnnotation',
    says: 'backend-protocol: "SPDY" is not one of',
    annotations: { [`${A}backend-protocol`]: 'SPDY' },
  },
  {
    name: 'connect-timeout',
    reason: 'InvalidAnnotation',
    says: 'connect-timeout: "soon" is not a duration',
    annotations: { [`${A}connect-timeout`]: 'soon' },
  },
  {
    name: 'response-header-timeout',
    reason: 'InvalidAnnotation',
    says: 'response-header-timeout: "-5s" is not a duration',
    annotations: { [`${A}response-header-timeout`]: '-5s' },
  },
  {
    name: 'websocket-idle-timeout',
    reason: 'InvalidAnnotation',
    says: 'websocket-idle-timeout: "2d" is not a duration',
    annotations: { [`${A}websocket-idle-timeout`]: '2d' },
  },
  {
    name: 'origin-sni-without-tls',
    reason: 'InvalidAnnotation',
    says: 'origin-sni has no effect without',
    annotations: { [`${A}origin-sni`]: 'web.internal' },
  },
  {
    name: 'origin-ca-secret-missing',
    reason: 'InvalidAnnotation',
    says: 'Secret default/no-such-ca has no PEM certificate',
    annotations: { [`${A}backend-protocol`]: 'HTTPS', [`${A}origin-ca-secret`]: 'no-such-ca' },
  },
  {
    name: 'origin-sni-not-a-host',
    reason: 'InvalidAnnotation',
    says: 'origin-sni: "not a host!" is not a host name',
    annotations: { [`${A}backend-protocol`]: 'HTTPS', [`${A}origin-sni`]: 'not a host!' },
  },
  {
    name: 'origin-insecure-maybe',
    reason: 'InvalidAnnotation',
    says: 'origin-insecure-skip-verify: "maybe" is not true or false',
    annotations: { [`${A}backend-protocol`]: 'HTTPS', [`${A}origin-insecure-skip-verify`]: 'maybe' },
  },
];

/** Cases whose healthy path goes to an HTTPS origin that does not exist here: only the Event counts. */
const TLS_CASES = new Set(['origin-ca-secret-missing', 'origin-sni-not-a-host', 'origin-insecure-maybe']);

function ingressFor(c: Case): string {
  const host = c.host ?? `${c.name}.test`;
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: c.name, annotations: c.annotations ?? {} },
    spec: {
      ingressClassName: 'cloudflare-tunnel',
      ...(c.spec ?? {}),
      rules: [{ host, http: { paths: [ok, ...(c.paths ?? [])] } }],
    },
  });
}

describe('invalid Ingress fields, one at a time', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;

  beforeAll(async () => {
    origin = await countingOrigin('invalid');
    k = await startKube();
    edge = await startEdgeSim({
      tunnels: ['inv'],
      routes: ['good.test=inv', 'default.test=inv', ...CASES.map((c) => `${c.name}.test=inv`)],
    });
    const good = JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'good', creationTimestamp: undefined },
      spec: {
        ingressClassName: 'cloudflare-tunnel',
        defaultBackend: { service: { name: 'web', port: { name: 'http' } } },
        rules: [{ host: 'good.test', http: { paths: [{ ...ok, path: '/' }] } }],
      },
    });
    await k.apply(
      [INGRESS_CLASS, service('web'), slice('web-1', 'web', origin.port, [{}]), good].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'inv', k, ['--ha-connections', '1']), {
      waitReady: 1,
    });
    await waitUntil(
      async () => ((await visit('good.test', '/')) === 200 ? true : undefined),
      15_000,
      'good.test',
    );
    // The broken ones come after the good one, so that it is the older Ingress in every conflict.
    await k.apply(CASES.map(ingressFor).join('\n---\n'));
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await origin?.close();
  });

  async function visit(host: string, p: string): Promise<number> {
    const res = await request(`${edge.publicUrl}${p}`, { headers: { host } });
    await res.body.text();
    return res.statusCode;
  }

  it('gives each broken Ingress a Warning Event naming the field', async () => {
    const missing = () =>
      events(k).then((evs) =>
        CASES.filter(
          (c) =>
            !evs.some(
              (e) =>
                e.involvedObject.name === c.name &&
                e.reason === c.reason &&
                e.message.includes(c.says.replace('default/', `${k.namespace}/`)),
            ),
        ).map((c) => c.name),
      );
    await waitUntil(
      async () => ((await missing()).length === 0 ? true : undefined),
      15_000,
      'every Event',
    ).catch(async () => expect(await missing()).toEqual([]));
    const evs = await events(k);
    expect(evs.filter((e) => e.involvedObject.name === 'good')).toEqual([]);
  }, 30_000);

  it('serves every healthy path, and every other Ingress, as before', async () => {
    expect(await visit('good.test', '/')).toBe(200);
    expect(await visit('default.test', '/anything')).toBe(200);
    for (const c of CASES) {
      if (c.name === 'conflicting-rule' || TLS_CASES.has(c.name)) continue;
      expect(await visit(`${c.name}.test`, '/ok'), c.name).toBe(200);
    }
    // A backend that cannot be served answers 503 on its own path, not on the others.
    expect(await visit('missing-service.test', '/bad')).toBe(503);
    expect(await visit('unknown-port-number.test', '/bad')).toBe(503);
  }, 30_000);
});
