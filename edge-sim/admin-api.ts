import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ConnectionRegistry } from './connection-registry.js';
import type { TunnelStore } from './tunnel-store.js';
import { API_PREFIX, type CloudflareApi } from './cloudflare-api/cloudflare-api.js';
import { listen, type HostPort } from '../common/net.js';

export interface AdminApiOptions {
  host: string;
  port: number;
  store: TunnelStore;
  registry: ConnectionRegistry;
  /** the Cloudflare API under /client/v4, when edge-sim was given tokens */
  cloudflare?: CloudflareApi;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * edge-sim's own endpoints under /_edge, for tests and operators: what is connected, and a way to drop
 * a connection on purpose. The Cloudflare API joins this listener under /client/v4.
 */
export class AdminApi {
  readonly server: http.Server;

  constructor(private readonly opts: AdminApiOptions) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  listen(): Promise<HostPort> {
    return listen(this.server, this.opts);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://edge-sim');
    const cf = this.opts.cloudflare;
    if (url.pathname === API_PREFIX || url.pathname.startsWith(API_PREFIX + '/')) {
      if (cf === undefined) {
        req.resume();
        json(res, 404, { error: 'edge-sim serves the Cloudflare API only when given --api-token' });
        return;
      }
      cf.handle(req, res, url);
      return;
    }
    if (url.pathname === '/_edge/api-faults' && cf !== undefined) {
      this.faults(req, res, cf);
      return;
    }
    req.resume();
    if (url.pathname === '/_edge/api-calls' && cf !== undefined) {
      if (req.method === 'DELETE') cf.calls.length = 0;
      json(res, 200, { calls: cf.calls });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/_edge/tunnels') {
      json(res, 200, { tunnels: this.tunnels() });
      return;
    }
    const drop = /^\/_edge\/connections\/([0-9a-f-]{36})\/drop$/.exec(url.pathname);
    if (drop !== null) {
      if (req.method !== 'POST') {
        json(res, 405, { error: 'use POST' });
        return;
      }
      const conn = this.opts.registry.get(drop[1] as string);
      if (conn === undefined) {
        json(res, 404, { error: 'no such connection' });
        return;
      }
      // Streams in flight on it fail with it; the caller may count on no others failing.
      const inflight = conn.inflight;
      conn.link.close();
      json(res, 200, { dropped: conn.id, inflight });
      return;
    }
    json(res, 404, { error: 'not found' });
  }

  /** POST a fault spec (status, count, forMs, retryAfterS, delayMs); DELETE clears it. */
  private faults(req: IncomingMessage, res: ServerResponse, cf: CloudflareApi): void {
    if (req.method === 'DELETE') {
      req.resume();
      cf.faults.clear();
      json(res, 200, { cleared: true });
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const spec = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, number>;
        cf.faults.set(spec);
        json(res, 200, { set: spec });
      } catch (err) {
        json(res, 400, { error: (err as Error).message });
      }
    });
  }

  private tunnels(): unknown[] {
    return this.opts.store.list().map((t) => ({
      id: t.id,
      name: t.name,
      accountTag: t.accountTag,
      connections: this.opts.registry.forTunnel(t.id).map((c) => ({
        id: c.id,
        connIndex: c.connIndex,
        clientId: c.clientId,
        clientVersion: c.clientVersion,
        clientArch: c.clientArch,
        features: c.features,
        protocol: c.protocol,
        location: c.location,
        remoteAddress: c.remoteAddress,
        openedAt: c.openedAt.toISOString(),
        draining: c.draining,
        inflight: c.inflight,
      })),
    }));
  }
}
