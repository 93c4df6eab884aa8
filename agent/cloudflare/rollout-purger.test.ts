import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Ingress } from '../routing/types.js';
import type { CloudflareClient } from './cloudflare-client.js';
import { PURGE_ON_ROLLOUT, PURGE_TAGS, RolloutPurger, readyAddresses } from './rollout-purger.js';

function ing(name: string, annotations: Record<string, string>, hosts = [`${name}.example.com`]): Ingress {
  return {
    metadata: { name, namespace: 'app', annotations },
    spec: {
      rules: hosts.map((host) => ({
        host,
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
          ],
        },
      })),
    },
  };
}

function slice(...ips: string[]): EndpointSlice {
  return {
    metadata: { name: 's', namespace: 'app' },
    ports: [{ name: 'http', port: 8080 }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  } as EndpointSlice;
}

function setup(ingresses: Ingress[], leader = true) {
  const calls: Array<{ zone: string; selector: unknown }> = [];
  const events: string[] = [];
  let slices: EndpointSlice[] = [slice('10.0.0.1', '10.0.0.2')];
  const client = {
    listZones: async () => [{ id: 'z1', name: 'example.com' }],
    purgeCache: async (zone: string, selector: unknown) => void calls.push({ zone, selector }),
  } as unknown as CloudflareClient;
  const p = new RolloutPurger({
    client,
    isLeader: () => leader,
    ingresses: () => ingresses,
    slices: () => slices,
    event: (_i, type, reason, message) => events.push(`${type} ${reason} ${message}`),
    log: pino({ level: 'silent' }),
  });
  p.sync();
  const change = async (...ips: string[]) => {
    slices = [slice(...ips)];
    p.endpoints('app', 'web', readyAddresses(slices));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  return { calls, events, change };
}

describe('RolloutPurger', () => {
  it('purges once the endpoints of the last purge are all gone, not while any is still ready', async () => {
    const { calls, events, change } = setup([ing('shop', { [PURGE_ON_ROLLOUT]: 'true' })]);
    await change('10.0.0.1', '10.0.0.2', '10.0.0.3');
    await change('10.0.0.2', '10.0.0.3');
    expect(calls).toHaveLength(0);
    await change();
    expect(calls).toHaveLength(0);
    await change('10.0.0.3', '10.0.0.4');
    expect(calls).toEqual([{ zone: 'z1', selector: { hosts: ['shop.example.com'] } }]);
    expect(events[0]).toMatch(/^Normal CachePurged Service app\/web rolled out/);
    // The new set is the baseline: a second pass of the same endpoints purges nothing more.
    await change('10.0.0.3', '10.0.0.4', '10.0.0.5');
    expect(calls).toHaveLength(1);
  });

  it('purges listed tags in the zones of the hosts; leaves Ingresses that did not ask; followers only track', async () => {
    const tagged = setup([ing('shop', { [PURGE_ON_ROLLOUT]: 'true', [PURGE_TAGS]: 'assets, v2' })]);
    await tagged.change('10.0.0.9');
    expect(tagged.calls).toEqual([{ zone: 'z1', selector: { tags: ['assets', 'v2'] } }]);
    const plain = setup([ing('blog', {})]);
    await plain.change('10.0.0.9');
    expect(plain.calls).toHaveLength(0);
    const follower = setup([ing('shop', { [PURGE_ON_ROLLOUT]: 'true' })], false);
    await follower.change('10.0.0.9');
    expect(follower.calls).toHaveLength(0);
  });

  it('reads ready endpoints as address:port, skipping those not ready, serving or terminating', () => {
    const s = slice('10.0.0.1', '10.0.0.2');
    (s.endpoints ?? [])[1]!.conditions = { ready: false };
    expect(readyAddresses([s])).toEqual(['10.0.0.1:8080']);
  });
});
