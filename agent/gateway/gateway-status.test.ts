import { describe, expect, it } from 'vitest';
import type { Gateway, HTTPRoute } from './gateway-types.js';
import { attachedCounts, gatewayStatus, routeParents, sameGatewayStatus } from './gateway-status.js';
import type { RouteOutcome } from './gateway-routes.js';
import { listenersOf } from './listener-attachment.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-02T00:00:00Z';

const gw: Gateway = {
  metadata: { name: 'edge', namespace: 'infra', generation: 3 },
  spec: {
    gatewayClassName: 'c',
    listeners: [
      { name: 'a', port: 80, protocol: 'HTTP', hostname: 'x.test' },
      { name: 'b', port: 80, protocol: 'HTTP', hostname: 'x.test' },
      { name: 'c', port: 81, protocol: 'HTTP' },
      {
        name: 'd',
        port: 81,
        protocol: 'HTTPS',
        tls: { certificateRefs: [{ name: 's', namespace: 'other' }] },
      },
      {
        name: 'e',
        port: 443,
        protocol: 'HTTPS',
        tls: { certificateRefs: [{ kind: 'ConfigMap', name: 'x' }] },
      },
      { name: 'f', port: 8080, protocol: 'HTTP', allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } },
    ],
  },
};

describe('Gateway status', () => {
  it('says which listeners conflict, which refs do not resolve, and which kinds it cannot take', () => {
    const ls = listenersOf(gw);
    const s = gatewayStatus(gw, ls, new Map([['infra/edge/e', 2]]), 't.cfargotunnel.com', true, T0);
    const reason = (name: string, type: string) =>
      s.listeners.find((l) => l.name === name)?.conditions.find((c) => c.type === type)?.reason;
    expect(reason('a', 'Conflicted')).toBe('HostnameConflict');
    expect(reason('b', 'Conflicted')).toBe('HostnameConflict');
    expect(reason('c', 'Conflicted')).toBe('ProtocolConflict');
    expect(reason('d', 'ResolvedRefs')).toBe('RefNotPermitted');
    expect(reason('e', 'ResolvedRefs')).toBe('InvalidCertificateRef');
    expect(reason('e', 'Programmed')).toBe('Programmed');
    expect(reason('f', 'ResolvedRefs')).toBe('InvalidRouteKinds');
    expect(s.listeners.find((l) => l.name === 'e')?.attachedRoutes).toBe(2);
    expect(s.addresses).toEqual([{ type: 'Hostname', value: 't.cfargotunnel.com' }]);
    expect(s.conditions.every((c) => c.observedGeneration === 3)).toBe(true);
  });

  it("checks an HTTPS listener's certificate Secret: there, and a PEM pair; no verdict while it is being read", () => {
    const https = (name: string, secret: string) => ({
      name,
      port: 443,
      protocol: 'HTTPS',
      hostname: `${name}.test`,
      tls: { certificateRefs: [{ name: secret }] },
    });
    const g: Gateway = {
      metadata: { name: 'edge', namespace: 'infra' },
      spec: {
        listeners: [
          https('ok', 'good'),
          https('gone', 'missing'),
          https('opaque', 'plain'),
          https('wait', 'slow'),
        ],
      },
    };
    const PEM = '-----BEGIN X-----\nAA==\n-----END X-----\n';
    const secrets: Record<string, Record<string, string> | 'pending' | undefined> = {
      'infra/good': { 'tls.crt': PEM, 'tls.key': PEM },
      'infra/plain': { password: 'hunter2' },
      'infra/slow': 'pending',
    };
    const asked: string[] = [];
    const ls = listenersOf(g, undefined, (ns, name) => {
      asked.push(`${ns}/${name}`);
      return secrets[`${ns}/${name}`];
    });
    const problem = (name: string) => ls.find((l) => l.name === name)?.certificateProblem;
    expect(problem('ok')).toBeNull();
    expect(problem('gone')).toEqual({
      reason: 'InvalidCertificateRef',
      message: 'Secret infra/missing does not exist',
    });
    expect(problem('opaque')?.reason).toBe('InvalidCertificateRef');
    expect(problem('opaque')?.message).not.toContain('hunter2');
    expect(problem('wait')).toBeNull();
    expect(asked.sort()).toEqual(['infra/good', 'infra/missing', 'infra/plain', 'infra/slow']);
  });

  it('keeps transition times while statuses stay, and needs no write when nothing changed', () => {
    const ls = listenersOf(gw);
    const first = gatewayStatus(gw, ls, new Map(), 't', false, T0);
    const same = gatewayStatus({ ...gw, status: first }, ls, new Map(), 't', false, T1);
    expect(sameGatewayStatus(first, same)).toBe(true);
    expect(same.conditions.map((c) => c.lastTransitionTime)).toEqual([T0, T0]);
    const live = gatewayStatus({ ...gw, status: first }, ls, new Map(), 't', true, T1);
    expect(sameGatewayStatus(first, live)).toBe(false);
    const programmed = live.conditions.find((c) => c.type === 'Programmed');
    expect(programmed).toMatchObject({ status: 'True', lastTransitionTime: T1 });
  });
});

describe('HTTPRoute status', () => {
  const outcome: RouteOutcome = {
    kind: 'HTTPRoute',
    key: 'app/r',
    source: 'httproute/app/r',
    generation: 2,
    parents: [
      {
        ref: { name: 'edge', namespace: 'infra' },
        gateway: 'infra/edge',
        accepted: { status: true, reason: 'Accepted', message: 'attached' },
        resolvedRefs: { status: false, reason: 'BackendNotFound', message: 'no such Service' },
        listeners: [],
        hostnames: [],
      },
    ],
  };

  it("writes its own parents' entries and keeps other controllers'", () => {
    const theirs = {
      parentRef: { name: 'other-gw' },
      controllerName: 'example.com/other',
      conditions: [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: '' }],
    };
    const route: HTTPRoute = {
      metadata: { name: 'r', namespace: 'app', generation: 2 },
      status: { parents: [theirs] },
    };
    const parents = routeParents(route, outcome, 'me/ctl', T0);
    expect(parents?.[0]).toBe(theirs);
    expect(parents?.[1]).toMatchObject({
      controllerName: 'me/ctl',
      conditions: [
        { type: 'Accepted', status: 'True', observedGeneration: 2 },
        { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound' },
      ],
    });
    expect(routeParents({ ...route, status: { parents: parents ?? [] } }, outcome, 'me/ctl', T1)).toBeNull();
    // Detached from our Gateways: our entries go, theirs stay.
    expect(routeParents({ ...route, status: { parents: parents ?? [] } }, undefined, 'me/ctl', T1)).toEqual([
      theirs,
    ]);
  });

  it('counts attached routes per listener, only accepted ones', () => {
    const l = listenersOf(gw)[2]!;
    const counts = attachedCounts([
      { ...outcome, parents: [{ ...outcome.parents[0]!, listeners: [l] }] },
      {
        ...outcome,
        parents: [
          { ...outcome.parents[0]!, accepted: { status: false, reason: 'x', message: '' }, listeners: [l] },
        ],
      },
    ]);
    expect([...counts]).toEqual([['infra/edge/c', 1]]);
  });
});
