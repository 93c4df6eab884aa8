import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelRequest } from '../tunnel/responder.js';
import { isHopByHop } from '../tunnel/hop-by-hop.js';
import { answerLocally, originHeaders, type OriginProxy } from './origin-proxy.js';
import { normalizeHost } from './routing/route-table.js';

/**
 * Websocket streams (spec: "Websocket on QUIC" and the HTTP/2 upgrade header): the edge forwards the
 * visitor's handshake headers without performing the upgrade; the agent dials the origin with
 * `Connection: Upgrade`, relays its 101 (HTTP/2 shows it as 200) and then copies raw frames both ways.
 * The origin negotiates subprotocol and extensions with the visitor's own offer, so both pass end to
 * end; close frames and ping/pong are just frames. Like cloudflared there is no half-close: when either
 * side ends, both do. An idle websocket stays open unless the Ingress sets websocket-idle-timeout. Any other origin status is passed through.
 *
 * node:http rather than undici: a websocket owns its connection, so there is no pool to share, and
 * node:http reports both the upgrade and a refusal with its body.
 */
export function proxyWebsocket(proxy: OriginProxy, req: TunnelRequest): void {
  const { stream, headers, responder } = req;
  const authority =
    (headers[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '';
  const started = performance.now();
  stream.on('error', () => {});
  const path = proxy.admit(req, 'GET', authority, (headers[':path'] as string | undefined) ?? '/', started);
  if (path === null) return;
  const target = proxy.opts.resolve(normalizeHost(authority), path, headers);
  const ray = headers['cf-ray'];
  if ('status' in target) {
    answerLocally(stream, responder, target.status, target.message);
    proxy.record('GET', authority, path, target.route, target.status, started, 'agent', 0, 0, ray, undefined);
    return;
  }
  const flat = originHeaders(headers, authority, proxy.opts.connectorId);
  flat.push('connection', 'Upgrade', 'upgrade', 'websocket');
  if (headers['sec-websocket-version'] === undefined) flat.push('sec-websocket-version', '13');
  const url = new URL(target.origin);
  const endpoint = url.host;
  let out: http.ClientRequest;
  try {
    out = http.request({
      host: url.hostname,
      port: url.port,
      path: target.path,
      method: 'GET',
      headers: flat as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      agent: false,
    });
  } catch (err) {
    // node:http refuses a header it cannot write (a character outside its rules): that request only.
    const message = `Bad request: ${(err as Error).message}.`;
    answerLocally(stream, responder, 400, message);
    proxy.record('GET', authority, path, target.route, 400, started, 'agent', 0, 0, ray, message);
    return;
  }
  let settled = false;
  const finish = (status: number, error?: string, bytesIn = 0, bytesOut = 0) => {
    if (settled) return;
    settled = true;
    proxy.record(
      'GET',
      authority,
      path,
      target.route,
      status,
      started,
      endpoint,
      bytesIn,
      bytesOut,
      ray,
      error,
    );
  };
  out.on('upgrade', (res, socket: Socket, head: Buffer) => {
    responder.respond(stream, 101, pairsOf(res.rawHeaders), undefined);
    if (head.length > 0) stream.write(head);
    socket.setNoDelay(true);
    // Idle for ever unless the Ingress's websocket-idle-timeout says otherwise: then silence in both
    // directions for that long closes the pair (the origin socket sees all traffic of both).
    const idle = target.options?.websocketIdleMs ?? 0;
    socket.setTimeout(idle);
    if (idle > 0) socket.once('timeout', () => socket.destroy());
    const m = proxy.opts.metrics;
    m?.longStreams.inc({ kind: 'websocket' });
    m?.longStreamsTotal.inc({ kind: 'websocket' });
    splice(stream, socket, (bytesIn, bytesOut) => {
      m?.longStreams.dec({ kind: 'websocket' });
      m?.bytes.inc({ direction: 'in' }, bytesIn);
      m?.bytes.inc({ direction: 'out' }, bytesOut);
      finish(101, undefined, bytesIn, bytesOut);
    });
  });
  out.on('response', (res) => {
    // The origin refused the upgrade: its answer goes back as an ordinary response.
    const length = res.headers['content-length'];
    responder.respond(
      stream,
      res.statusCode ?? 502,
      pairsOf(res.rawHeaders),
      typeof length === 'string' ? length : undefined,
    );
    res.pipe(stream);
    res.on('end', () => finish(res.statusCode ?? 502));
  });
  out.on('error', (err) => {
    finish(502, (err as NodeJS.ErrnoException).code ?? err.message);
    if (!responder.headersSent(stream)) responder.fail(stream, err.message);
    else responder.abort(stream);
  });
  stream.on('close', () => out.destroy());
  out.end();
}

function pairsOf(raw: string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    // Upgrade and Connection belong to the handshake the visitor sees; other hop-by-hop headers do not.
    if (isHopByHop(lower) && lower !== 'upgrade' && lower !== 'connection') continue;
    pairs.push([name, raw[i + 1] as string]);
  }
  return pairs;
}

/**
 * Copies both ways with backpressure; when either side ends or fails, both close. `done` gets the
 * bytes that went each way (frames included): visitor to origin, origin to visitor.
 */
function splice(a: Duplex, b: Socket, done: (bytesIn: number, bytesOut: number) => void): void {
  a.pipe(b);
  b.pipe(a);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    a.unpipe(b);
    b.unpipe(a);
    b.destroy();
    if (!a.destroyed) a.end();
    // The FIN goes first; the edge then closes its side. A stream it leaves open is cut after 5 s.
    setTimeout(() => {
      if (!a.destroyed) a.destroy();
    }, 5000).unref();
    // The origin socket saw every byte both ways (the handshake too): what it read came from the
    // origin, what it wrote came from the visitor.
    done(b.bytesWritten, b.bytesRead);
  };
  a.on('end', close);
  a.on('close', close);
  b.on('end', close);
  b.on('close', close);
  b.on('error', close);
}
