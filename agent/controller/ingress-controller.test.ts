import { EventEmitter } from 'node:events';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeKind, WatchFactory, WatchSpec, WatchedCache } from '../kube/resource-watch.js';
import type { EventRecorder } from './event-recorder.js';
import { IngressController } from './ingress-controller.js';
import type { LeaderElector } from './leader-election.js';

/**
 * The controller in process over a fake cache: objects are put in and taken out by the test, which
 * raises the watch events the controller reacts to; no API server. What the controller decides
 * shows in its route table, its upstreams and the status writes it asks for.
 */
class FakeCache<T extends KubernetesObject> implements WatchedCache<T> {
  synced = false;
  restarts = 0;
  private readonly objects = new Map<string, T>();
  constructor(private readonly spec: WatchSpec<T>) {}
  list(): readonly T[] {
    return [...this.objects.values()];
  }
  indexed(key: string): T[] {
    return this.list().filter((o) => this.spec.indexBy?.(o) === key);
  }
  start(): void {
    this.synced = true;
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  put(o: T, kind: ChangeKind = 'add'): void {
    const id = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    if (kind === 'delete') this.objects.delete(id);
    else this.objects.set(id, o);
    this.spec.onChange(kind, o);
  }
}

function fakeWatches() {
  const caches = new Map<string, FakeCache<KubernetesObject>>();
  const watch: WatchFactory = (spec) => {
    const c = new FakeCache(spec);
    caches.set(spec.name, c as never);
    return c;
  };
  return { watch, cache: (name: string) => caches.get(name) as FakeCache<KubernetesObject> };
}

const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://192.0.2.1:6443' }],
  users: [{ name: 'u', token: 'x' }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});

class FakeLeader extends EventEmitter {
  constructor(public isLeader: boolean) {
    super();
  }
}

const controllers: IngressController[] = [];
afterEach(async () => {
  for (const c of controllers.splice(0)) await c.stop();
});

function start(o: { leader?: boolean; patch?: () => Promise<unknown> } = {}) {
  const { watch, cache } = fakeWatches();
  const writes: string[] = [];
  const ctl = new IngressController({
    kc,
    classPolicy: { className: 'cloudflare-tunnel', watchWithoutClass: false },
    log: pino({ level: 'silent' }),
    leader: new FakeLeader(o.leader ?? false) as unknown as LeaderElector,
    events: { record: () => Promise.resolve() } as unknown as EventRecorder,
    tunnelHostname: 'tunnel.cfargotunnel.com',
    tunnelLive: () => true,
    watch,
    statusApi: {
      patchNamespacedIngressStatus: ((req: { name: string }) => {
        writes.push(req.name);
        return o.patch?.() ?? Promise.resolve({});
      }) as never,
    },
  });
  controllers.push(ctl);
  ctl.start();
  cache('ingressclasses').put({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: 'cloudflare-tunnel' },
    spec: { controller: 'tunnel-ingress.dev/agent' },
  } as KubernetesObject);
  return { ctl, cache, writes };
}

const service = (name: string): KubernetesObject =>
  ({ metadata: { name, namespace: 'apps' }, spec: { ports: [{ port: 80 }] } }) as KubernetesObject;
const slice = (svc: string, ip: string, name = `${svc}-1`): KubernetesObject =>
  ({
    metadata: { name, namespace: 'apps', labels: { 'kubernetes.io/service-name': svc } },
    ports: [{ port: 8080 }],
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
  }) as KubernetesObject;
const ingress = (name: string, host: string, svc: string): KubernetesObject =>
  ({
    metadata: { name, namespace: 'apps', creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '1' },
    spec: {
      ingressClassName: 'cloudflare-tunnel',
      rules: [
        {
          host,
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  }) as unknown as KubernetesObject;

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const endpointOf = (ctl: IngressController, host: string) => {
  const b = ctl.table.lookup(host, '/');
  return b?.kind === 'service' ? (b.upstream.endpoints.map((e) => e.address).join(',') as string) : null;
};

describe('ingress controller (fake cache)', () => {
  it('routes an Ingress of its class to the ready endpoints, and follows EndpointSlice changes without a new table', async () => {
    const { ctl, cache } = start();
    cache('services').put(service('web'));
    cache('endpointslices').put(slice('web', '10.0.0.1'));
    cache('ingresses').put(ingress('web', 'web.test', 'web'));
    await until(() => endpointOf(ctl, 'web.test') === '10.0.0.1', 'the route');
    // The puts and the start's synced poll (every 20 ms) each queue a route compile: the generation
    // to compare with is the one after them all. A 25 ms timer set now fires after that poll's first.
    await new Promise((r) => setTimeout(r, 25));
    await ctl.queue.idle();
    const generation = ctl.table.generation;
    cache('endpointslices').put(slice('web', '10.0.0.2'), 'update');
    await until(() => endpointOf(ctl, 'web.test') === '10.0.0.2', 'the new endpoint');
    expect(ctl.table.generation).toBe(generation);
    cache('ingresses').put(ingress('web', 'web.test', 'web'), 'delete');
    await until(() => ctl.table.lookup('web.test', '/') === null, 'the route gone');
  });

  it('does not let a status write that hangs hold up endpoint updates', async () => {
    let release: () => void = () => {};
    const hanging = new Promise<void>((r) => (release = r));
    const { ctl, cache, writes } = start({ leader: true, patch: () => hanging });
    cache('services').put(service('api'));
    cache('endpointslices').put(slice('api', '10.0.1.1'));
    cache('ingresses').put(ingress('api', 'api.test', 'api'));
    await until(() => writes.includes('api'), 'the status write to start');
    cache('endpointslices').put(slice('api', '10.0.1.2'), 'update');
    await until(() => endpointOf(ctl, 'api.test') === '10.0.1.2', 'the endpoint update');
    release();
  });

  it('writes no status when it is not the leader', async () => {
    const { ctl, cache, writes } = start({ leader: false });
    cache('services').put(service('b'));
    cache('ingresses').put(ingress('b', 'b.test', 'b'));
    await until(() => ctl.table.lookup('b.test', '/') !== null, 'the route');
    await ctl.queue.idle();
    expect(writes).toEqual([]);
  });
});
