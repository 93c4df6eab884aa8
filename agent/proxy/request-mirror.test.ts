import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../observability/metrics.js';
import { PLAIN } from '../routing/origin-options.js';
import type { Mirror } from '../routing/rule-action.js';
import { Upstream } from '../routing/upstreams.js';
import { OriginPools } from './origin-pools.js';
import { RequestContext } from './request-context.js';
import { MAX_MIRRORS_IN_FLIGHT, MAX_MIRROR_BODY_LAG, RequestMirrors, feedMirrors } from './request-mirror.js';

/**
 * RequestMirror's bounds against a real origin on 127.0.0.1 that holds every request open: copies
 * past the in-flight bound are dropped, a copy whose body falls too far behind is failed rather than
 * buffered, and a fraction of 0 sends nothing.
 */
let origin: http.Server;
let port: number;
const held: http.ServerResponse[] = [];
let received = 0;

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    received++;
    req.resume();
    held.push(res);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  port = (origin.address() as AddressInfo).port;
});

afterAll(async () => {
  origin.closeAllConnections();
  await new Promise((r) => origin.close(r));
});

function mirror(fraction = 1): Mirror {
  const upstream = new Upstream('app', 'mirror', 'http', 80);
  upstream.setEndpoints([
    {
      address: '127.0.0.1',
      port,
      origin: `http://127.0.0.1:${port}`,
      tlsOrigin: `https://127.0.0.1:${port}`,
    },
  ]);
  return {
    backend: {
      kind: 'service',
      upstream,
      source: 'httproute/app/r',
      description: 'app/mirror:80',
      host: '',
      origin: PLAIN,
    },
    fraction,
    edits: null,
  };
}

function ctx(hasBody: boolean): RequestContext {
  return new RequestContext({
    stream: new Duplex({ read() {}, write: (_c, _e, cb) => cb() }),
    headers: { ':method': hasBody ? 'POST' : 'GET', ':path': '/m', ':authority': 'h.test' },
    hasBody,
    kind: 'http',
    trailers: true,
    responder: null as never,
  });
}

const count = async (metrics: AgentMetrics, result: string) =>
  (await metrics.mirrors.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

describe('RequestMirror bounds', () => {
  it('drops copies past the in-flight bound and sends none at fraction 0', async () => {
    const log = pino({ level: 'silent' });
    const metrics = new AgentMetrics();
    const pools = new OriginPools({ log });
    const mirrors = new RequestMirrors(pools, log, metrics);
    const m = mirror();
    for (let i = 0; i < MAX_MIRRORS_IN_FLIGHT + 10; i++) mirrors.start(ctx(false), [m], ['host', 'h.test']);
    expect(await count(metrics, 'dropped')).toBe(10);
    const none = mirror(0);
    for (let i = 0; i < 50; i++) mirrors.start(ctx(false), [none], ['host', 'h.test']);
    const t0 = Date.now();
    while (received < MAX_MIRRORS_IN_FLIGHT && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(received).toBe(MAX_MIRRORS_IN_FLIGHT);
    for (const res of held.splice(0)) res.end('ok');
    while ((await count(metrics, 'sent')) < MAX_MIRRORS_IN_FLIGHT && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(await count(metrics, 'sent')).toBe(MAX_MIRRORS_IN_FLIGHT);
    // Slots freed: the next copy goes.
    received = 0;
    mirrors.start(ctx(false), [m], ['host', 'h.test']);
    while (received < 1 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(received).toBe(1);
    for (const res of held.splice(0)) res.end('ok');
    await pools.close();
  });

  it('fails a copy whose body falls too far behind instead of buffering it', async () => {
    const log = pino({ level: 'silent' });
    const metrics = new AgentMetrics();
    const pools = new OriginPools({ log });
    const mirrors = new RequestMirrors(pools, log, metrics);
    const bodies = mirrors.start(ctx(true), [mirror()], ['host', 'h.test']);
    expect(bodies).toHaveLength(1);
    const b = bodies![0]!;
    // Written faster than anything can read: past the bound the copy is destroyed, not grown.
    const chunk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < 40 && !b.destroyed; i++) feedMirrors(bodies!, chunk);
    expect(b.destroyed).toBe(true);
    expect(b.writableLength).toBeLessThanOrEqual(MAX_MIRROR_BODY_LAG + chunk.length);
    const t0 = Date.now();
    while ((await count(metrics, 'failed')) < 1 && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(await count(metrics, 'failed')).toBe(1);
    for (const res of held.splice(0)) res.end('ok');
    await pools.close();
  });
});
