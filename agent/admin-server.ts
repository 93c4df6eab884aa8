import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type HostPort } from '../common/net.js';

/**
 * The agent's admin endpoints on --metrics: /ready in cloudflared's JSON shape (200 only with a live
 * tunnel connection) and /healthz (the process is alive and its event loop turns).
 */
export interface ReadinessSource {
  readyConnections(): number;
  connectorId: string;
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
    if (path === '/healthz' || path === '/healthcheck') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
