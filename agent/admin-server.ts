import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type HostPort } from '../common/net.js';
import type { AgentMetrics } from './metrics.js';
import type { RequestLog } from './request-log.js';

/**
 * The agent's admin endpoints on --metrics: /ready in cloudflared's JSON shape (200 only with a live
 * tunnel connection), /healthz (the process is alive and its event loop turns), /metrics (Prometheus),
 * /requests (the last requests proxied) and /debug/routes (the compiled route table; it holds no
 * secrets: hosts, paths, Services and endpoint addresses only).
 */
export interface ReadinessSource {
  readyConnections(): number;
  connectorId: string;
  metrics?: AgentMetrics;
  requests?: RequestLog;
  routes?(): unknown;
}

export class AdminServer {
  readonly server: http.Server;

  constructor(
    private readonly address: HostPort,
    private readonly readiness: ReadinessSource,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    // cloudflared's metrics server uses 10 s read and write timeouts.
    this.server.requestTimeout = 10_000;
  }

  listen(): Promise<HostPort> {
    return listen(this.server, this.address);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/ready') {
      const ready = this.readiness.readyConnections();
      const status = ready > 0 ? 200 : 503;
      const body = JSON.stringify({
        status,
        readyConnections: ready,
        connectorId: this.readiness.connectorId,
      });
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (path === '/metrics' && this.readiness.metrics !== undefined) {
      const registry = this.readiness.metrics.registry;
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (path === '/requests' && this.readiness.requests !== undefined) {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ requests: this.readiness.requests.recent() }));
      return;
    }
    if (path === '/debug/routes' && this.readiness.routes !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.readiness.routes()));
      return;
    }
    if (path === '/healthz' || path === '/healthcheck') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
