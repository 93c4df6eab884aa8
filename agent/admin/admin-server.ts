import { timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type HostPort } from '../../common/net.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { normalizeHost } from '../routing/route-table.js';
import type { RequestLog } from '../observability/request-log.js';

/**
 * The agent's admin endpoints on --metrics: /ready in cloudflared's JSON shape (200 only with a live
 * tunnel connection), /healthz (the process is alive and its event loop turns), /metrics (Prometheus),
 * /requests (the last requests proxied) and /debug/routes (the compiled route table; it holds no
 * secrets: hosts, paths, Services and endpoint addresses only), and the dashboard (/dashboard with
 * /api/overview and the /api/requests/stream server-sent events).
 *
 * Bound to a loopback address, everything is open. Bound beyond it (as in a pod, for the kubelet's
 * probes and Prometheus), /ready, /healthz and /metrics stay open and the rest needs the admin token
 * (`Authorization: Bearer …` or `?token=…`); without a token configured they are off.
 */
export interface ReadinessSource {
  readyConnections(): number;
  connectorId: string;
  metrics?: AgentMetrics;
  requests?: RequestLog;
  routes?(): unknown;
  /** connections, routes and recent activity for the dashboard */
  overview?(): unknown;
  /** required for the dashboard and debug endpoints when the address is not loopback */
  adminToken?: string;
  /** Host names answered on a loopback address besides loopback ones */
  adminHosts?: string[];
}

const OPEN = new Set(['/ready', '/healthz', '/healthcheck', '/metrics']);

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
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

  /**
   * On a loopback address the endpoints are open, so a page elsewhere must not reach them through a
   * name that resolves to 127.0.0.1 (DNS rebinding): only loopback Host names and the configured ones.
   * A request without Host (HTTP/1.0) comes from no browser and is let through.
   */
  private hostRefused(req: IncomingMessage): boolean {
    if (!isLoopback(this.address.host)) return false;
    const host = req.headers.host;
    if (host === undefined || host === '') return false;
    const name = normalizeHost(host.trim());
    return !isLoopback(name) && this.readiness.adminHosts?.includes(name) !== true;
  }

  /** Null when allowed, else the status to refuse with. */
  private refuse(req: IncomingMessage, path: string): number | null {
    if (this.hostRefused(req)) return 403;
    if (OPEN.has(path) || isLoopback(this.address.host)) return null;
    const want = this.readiness.adminToken;
    if (want === undefined) return 404;
    const url = new URL(req.url ?? '/', 'http://admin');
    const auth = req.headers.authorization;
    const given =
      auth?.startsWith('Bearer ') === true ? auth.slice(7) : (url.searchParams.get('token') ?? '');
    const a = Buffer.from(given);
    const b = Buffer.from(want);
    return a.length === b.length && timingSafeEqual(a, b) ? null : 401;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const path = (req.url ?? '/').split('?')[0] as string;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const refused = this.refuse(req, path);
    if (refused !== null) {
      res
        .writeHead(refused, {
          'content-type': 'text/plain',
          ...(refused === 401 ? { 'www-authenticate': 'Bearer' } : {}),
        })
        .end(
          refused === 401
            ? 'this endpoint needs the admin token\n'
            : refused === 403
              ? 'Host not allowed: the admin endpoints answer loopback names and those given with --admin-host\n'
              : 'not served: the admin address is not loopback and no --admin-token-file was given\n',
        );
      return;
    }
    if (path === '/' || path === '/dashboard') {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'content-security-policy':
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        })
        .end(DASHBOARD_HTML);
      return;
    }
    if (path === '/api/overview' && this.readiness.overview !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(this.readiness.overview()));
      return;
    }
    if (path === '/api/requests/stream' && this.readiness.requests !== undefined) {
      this.stream(req, res, this.readiness.requests);
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

  /** Server-sent events: the last 50 requests, then each one as it finishes. */
  private stream(req: IncomingMessage, res: ServerResponse, log: RequestLog): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    // The request timeout (10 s) would cut a stream that is meant to stay open.
    req.socket.setTimeout(0);
    for (const r of log.recent().slice(-50)) res.write(`event: request\ndata: ${JSON.stringify(r)}\n\n`);
    const unsubscribe = log.subscribe((r) => res.write(`event: request\ndata: ${JSON.stringify(r)}\n\n`));
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => {
      unsubscribe();
      clearInterval(ping);
    });
  }
}
