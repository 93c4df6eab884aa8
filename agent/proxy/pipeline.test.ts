import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type http2 from 'node:http2';
import { Duplex } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { Responder, TunnelRequest } from '../../tunnel/responder.js';
import { AgentMetrics } from '../observability/metrics.js';
import { RequestLog } from '../observability/request-log.js';
import type { Resolver } from '../routing/resolvers.js';
import { OriginPools } from './origin-pools.js';
import { RequestPipeline } from './pipeline.js';
import { RequestRecorder } from './request-recorder.js';

/**
 * The pipeline in process: a fake tunnel stream and responder stand for the transport (what the
 * agent answers is read off them), the origin is a real server on 127.0.0.1. Every request kind
 * passes every phase; what each phase decides shows in the answer and in the record.
 */
interface Answer {
  status: number;
  headers: string[];
  body: Buffer;
  failed: string | null;
  aborted: boolean;
  ended: boolean;
}

class FakeStream extends Duplex {
  readonly written: Buffer[] = [];
  answer: Answer = {
    status: 0,
    headers: [],
    body: Buffer.alloc(0),
    failed: null,
    aborted: false,
    ended: false,
  };
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error) => void): void {
    this.written.push(chunk);
    this.emit('wrote');
    cb();
  }
  override _final(cb: () => void): void {
    this.answer.ended = true;
    this.answer.body = Buffer.concat(this.written);
    this.emit('answered');
    cb();
  }
}

const SENT = Symbol('sent');
type Marked = FakeStream & { [SENT]?: boolean };

const fakeResponder: Responder = {
  respond(stream, status, headers) {
    const s = stream as Marked;
    s[SENT] = true;
    s.answer.status = status;
    s.answer.headers = [...headers];
    s.emit('head');
  },
  data: (stream, chunk) => stream.write(chunk),
  end: (stream) => void stream.end(),
  fail(stream, message) {
    const s = stream as Marked;
    s[SENT] = true;
    s.answer.status = 502;
    s.answer.failed = message;
    s.emit('answered');
  },
  abort(stream) {
    (stream as FakeStream).answer.aborted = true;
    stream.emit('answered');
    stream.destroy();
  },
  headersSent: (stream) => (stream as Marked)[SENT] === true,
};

function request(
  headers: http2.IncomingHttpHeaders,
  kind: TunnelRequest['kind'] = 'http',
  o: { body?: string; trailers?: boolean } = {},
): { req: TunnelRequest; stream: FakeStream } {
  const stream = new FakeStream();
  if (o.body !== undefined) {
    stream.push(o.body);
    stream.push(null);
  }
  return {
    stream,
    req: {
      stream,
      headers,
      hasBody: o.body !== undefined,
      kind,
      trailers: o.trailers ?? true,
      responder: fakeResponder,
    },
  };
}

const answered = (s: FakeStream) =>
  new Promise<Answer>((resolve) => {
    if (s.answer.ended || s.answer.failed !== null) resolve(s.answer);
    else s.once('answered', () => resolve(s.answer));
  });

const header = (a: Answer, name: string) => {
  const i = a.headers.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === name);
  return i < 0 ? undefined : a.headers[i + 1];
};

let origin: http.Server;
let originUrl: string;
let seen: http.IncomingMessage[] = [];
let wss: WebSocketServer;

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    seen.push(req);
    if (req.url === '/refuse-upgrade') {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('no websockets here');
      return;
    }
    // Slow origins: no head for a while, or a head and then a body that stalls.
    if (req.url === '/slow-head') {
      const t = setTimeout(() => res.writeHead(200).end('late'), 2000);
      res.on('close', () => clearTimeout(t));
      return;
    }
    if (req.url === '/slow-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part;');
      const t = setTimeout(() => res.end('rest'), 2000);
      res.on('close', () => clearTimeout(t));
      return;
    }
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () =>
      res
        .writeHead(200, {
          'content-type': 'text/plain',
          'x-origin': 'yes',
          connection: 'keep-alive, x-secret',
          'x-secret': 'hop',
        })
        .end(`${req.method} ${req.url} ${n}`),
    );
  });
  wss = new WebSocketServer({ noServer: true });
  origin.on('upgrade', (req, socket, head) => {
    if (req.url === '/refuse-upgrade') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`echo ${String(m)}`)));
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});

afterAll(async () => {
  wss.close();
  origin.closeAllConnections();
  await new Promise((r) => origin.close(r));
});

function pipeline(resolve?: Resolver) {
  const log = pino({ level: 'silent' });
  const requests = new RequestLog(10);
  const metrics = new AgentMetrics();
  const errors: string[] = [];
  const p = new RequestPipeline({
    resolve:
      resolve ??
      ((host, path) =>
        host === 'app.test'
          ? { origin: originUrl, path, route: 'app.test' }
          : { status: 404, message: `No Ingress rule matches ${host}${path}.`, route: 'unmatched' }),
    connectorId: 'connector-1',
    log,
    metrics,
    recorder: new RequestRecorder(metrics, requests, null, (ctx) => errors.push(ctx.error ?? '')),
    pools: new OriginPools({ log }),
  });
  return { p, requests, metrics, errors };
}

const get = (path: string, extra: http2.IncomingHttpHeaders = {}) => ({
  ':method': 'GET',
  ':path': path,
  ':authority': 'app.test',
  'cf-ray': 'ray-1',
  'cf-connecting-ip': '203.0.113.9',
  ...extra,
});

describe('request pipeline', () => {
  it('proxies a request: origin headers set by the agent, hop-by-hop gone both ways, recorded once', async () => {
    const { p, requests } = pipeline();
    seen = [];
    const { req, stream } = request(
      {
        ...get('/a/./b?q=1', { 'x-real-ip': 'spoofed', connection: 'x-drop', 'x-drop': '1' }),
        ':method': 'POST',
      },
      'http',
      { body: 'hello' },
    );
    p.serve(req);
    const a = await answered(stream);
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('POST /a/b?q=1 5');
    expect(header(a, 'x-origin')).toBe('yes');
    expect(header(a, 'x-secret')).toBeUndefined();
    expect(a.headers.filter((_, i) => i % 2 === 0)).toContain('X-Origin');
    const o = seen[0] as http.IncomingMessage;
    expect(o.headers).toMatchObject({
      host: 'app.test',
      'x-forwarded-host': 'app.test',
      'x-real-ip': '203.0.113.9',
      'cf-warp-tag-id': 'connector-1',
    });
    expect(o.headers['x-drop']).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(requests.recent()).toEqual([
      expect.objectContaining({
        method: 'POST',
        host: 'app.test',
        path: '/a/b?q=1',
        status: 200,
        bytesIn: 5,
        ray: 'ray-1',
      }),
    ]);
    await p.close();
  });

  it('refuses smuggling and unsafe paths for every kind, websocket included, before any origin sees them', async () => {
    const { p, requests, errors } = pipeline();
    seen = [];
    const cases: Array<[http2.IncomingHttpHeaders, TunnelRequest['kind']]> = [
      [get('/x', { 'content-length': '3', 'transfer-encoding': 'chunked' }), 'http'],
      [get('/api/..%2fadmin'), 'http'],
      [get('/api/..%2fadmin', { upgrade: 'websocket' }), 'websocket'],
    ];
    for (const [h, kind] of cases) {
      const { req, stream } = request(h, kind);
      p.serve(req);
      expect((await answered(stream)).status).toBe(400);
    }
    expect(seen).toHaveLength(0);
    expect(requests.recent().map((r) => [r.status, r.endpoint])).toEqual([
      [400, 'agent'],
      [400, 'agent'],
      [400, 'agent'],
    ]);
    expect(errors).toHaveLength(3);
    await p.close();
  });

  it("applies a Gateway API route's edits: Host rewritten, request headers set/added/removed, response headers edited", async () => {
    const edits = {
      host: 'inner.test',
      request: [
        { set: [['x-set', 'new']] as const, add: [['x-add', 'two']] as const, remove: ['x-gone'] },
        { set: [], add: [['x-backend', 'b1']] as const, remove: [] },
      ],
      response: [
        {
          set: [['x-origin', 'replaced']] as const,
          add: [['x-extra', 'yes']] as const,
          remove: ['content-type'],
        },
      ],
    };
    const { p } = pipeline((_host, path) => ({ origin: originUrl, path, route: 'app.test', edits }));
    seen = [];
    const { req, stream } = request(get('/e', { 'x-set': 'old', 'x-add': 'one', 'x-gone': 'bye' }));
    p.serve(req);
    const a = await answered(stream);
    expect(a.status).toBe(200);
    const o = seen[0] as http.IncomingMessage;
    expect(o.headers).toMatchObject({
      host: 'inner.test',
      'x-set': 'new',
      'x-add': 'one,two',
      'x-backend': 'b1',
      'x-forwarded-host': 'app.test',
    });
    expect(o.headers['x-gone']).toBeUndefined();
    expect(header(a, 'x-origin')).toBe('replaced');
    expect(header(a, 'x-extra')).toBe('yes');
    expect(header(a, 'content-type')).toBeUndefined();
    await p.close();
  });

  it("answers a route's redirect itself, with its Location, and never calls the origin", async () => {
    const { p, requests } = pipeline(() => ({
      status: 301,
      message: 'Redirecting.',
      route: 'app.test',
      location: 'https://app.test/new',
    }));
    seen = [];
    const { req, stream } = request(get('/old'));
    p.serve(req);
    const a = await answered(stream);
    expect(a.status).toBe(301);
    expect(header(a, 'location')).toBe('https://app.test/new');
    expect(seen).toHaveLength(0);
    expect(requests.recent().map((r) => [r.status, r.endpoint])).toEqual([[301, 'agent']]);
    await p.close();
  });

  it("ends an exchange at its route's timeout: 504 before the head, a broken stream after it", async () => {
    const { p, requests, metrics } = pipeline((_host, path) => ({
      origin: originUrl,
      path,
      route: 'app.test',
      timeoutMs: 150,
    }));
    const t0 = performance.now();
    const head = request(get('/slow-head'));
    p.serve(head.req);
    const a = await answered(head.stream);
    expect(a.status).toBe(504);
    expect(a.body.toString()).toContain('timeout of 150 ms passed');
    expect(performance.now() - t0).toBeLessThan(1500);
    const body = request(get('/slow-body'));
    p.serve(body.req);
    const b = await answered(body.stream);
    expect(b.status).toBe(200);
    expect(b.aborted).toBe(true);
    const recorded = requests.recent().slice(-2);
    expect(recorded.map((r) => r.status)).toEqual([504, 200]);
    expect(recorded.every((r) => r.error?.includes("route's timeout") === true)).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('tunnel_ingress_origin_errors_total')).toContain(
      'reason="ORIGIN_ROUTE_TIMEOUT"} 2',
    );
    // Within its timeout, a request is untouched.
    const fast = request(get('/quick'));
    p.serve(fast.req);
    expect((await answered(fast.stream)).status).toBe(200);
  });

  it('answers itself when nothing routes: 404 page, recorded as unmatched', async () => {
    const { p, metrics } = pipeline();
    const { req, stream } = request({ ...get('/'), ':authority': 'nowhere.test' });
    p.serve(req);
    const a = await answered(stream);
    expect(a.status).toBe(404);
    expect(a.body.toString()).toContain('No Ingress rule matches nowhere.test/');
    const text = await metrics.registry.getSingleMetricAsString('tunnel_ingress_requests_total');
    expect(text).toContain('tunnel_ingress_requests_total{host="unmatched",status_class="4xx"} 1');
    await p.close();
  });

  it('answers gRPC the gRPC way on a stream that cannot carry trailers, without calling the origin', async () => {
    const { p } = pipeline();
    seen = [];
    const { req, stream } = request(
      { ...get('/pkg.Svc/Call'), ':method': 'POST', 'content-type': 'application/grpc' },
      'http',
      {
        trailers: false,
      },
    );
    p.serve(req);
    const a = await answered(stream);
    expect(a.status).toBe(200);
    expect(header(a, 'grpc-status')).toBe('12');
    expect(seen).toHaveLength(0);
    await p.close();
  });

  it('refuses TCP streams through the same phases, and records them', async () => {
    const { p, requests } = pipeline();
    const { req, stream } = request({ ':authority': 'app.test' }, 'tcp');
    p.serve(req);
    const a = await answered(stream);
    expect(a.failed).toBe('TCP streams are not supported');
    expect(requests.recent()[0]).toMatchObject({ status: 502, error: 'TCP streams are not supported' });
    await p.close();
  });

  it('fails a request whose origin is down with 502 before a response, and records the error', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const { p, requests } = pipeline((_h, path) => ({
      origin: `http://127.0.0.1:${port}`,
      path,
      route: 'down.test',
    }));
    const { req, stream } = request(get('/'));
    p.serve(req);
    const a = await answered(stream);
    expect(a.failed).toContain('Unable to reach the origin service');
    await new Promise((r) => setImmediate(r));
    expect(requests.recent()[0]).toMatchObject({ status: 502, endpoint: `127.0.0.1:${port}` });
    await p.close();
  });

  it('carries a websocket through: 101 relayed, then frames both ways; a refused upgrade passes as a response', async () => {
    const { p, requests } = pipeline();
    const hs = {
      ...get('/ws'),
      upgrade: 'websocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    };
    const { req, stream } = request(hs, 'websocket');
    const head = new Promise((r) => stream.once('head', r));
    p.serve(req);
    await head;
    expect(stream.answer.status).toBe(101);
    expect(header(stream.answer, 'sec-websocket-accept')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    // a masked text frame "hi" from the visitor; the origin answers "echo hi" unmasked
    const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
    const echoed = new Promise<void>((r) => {
      const check = () => {
        if (Buffer.concat(stream.written).includes('echo hi')) r();
        else stream.once('wrote', check);
      };
      check();
    });
    stream.push(frame);
    await echoed;
    stream.push(null);
    await answered(stream);
    await new Promise((r) => setTimeout(r, 20));
    expect(requests.recent()[0]).toMatchObject({ status: 101, method: 'GET', path: '/ws' });
    expect(requests.recent()[0]?.bytesIn).toBeGreaterThan(0);

    const refused = request({ ...hs, ':path': '/refuse-upgrade' }, 'websocket');
    p.serve(refused.req);
    const a = await answered(refused.stream);
    expect(a.status).toBe(403);
    await p.close();
  });
});
