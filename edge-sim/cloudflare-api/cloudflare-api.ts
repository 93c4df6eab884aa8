import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ConnectionRegistry } from '../connection-registry.js';
import type { TunnelStore } from '../tunnel-store.js';
import { ApiFaults, RateLimiter } from './api-faults.js';
import { HostnameRoutes } from './hostname-routes.js';
import { DnsApi } from './dns-api.js';
import type { DnsStore } from './dns-store.js';
import { ApiError, sendError, sendResult } from './envelope.js';
import { TunnelsApi, type Reply } from './tunnels-api.js';
import { PurgeApi } from './purge-api.js';
import type { EdgeCache } from '../cache/edge-cache.js';

export const API_PREFIX = '/client/v4';
const MAX_BODY = 1024 * 1024;

export interface ApiToken {
  token: string;
  account: string;
}

/** `TOKEN` (edge-sim's own account) or `ACCOUNT:TOKEN`. */
export function parseApiToken(spec: string, defaultAccount: string): ApiToken {
  const colon = spec.indexOf(':');
  if (colon < 0) return { token: spec, account: defaultAccount };
  return { account: spec.slice(0, colon), token: spec.slice(colon + 1) };
}

export interface CloudflareApiOptions {
  tokens: ApiToken[];
  store: TunnelStore;
  dns: DnsStore;
  registry: ConnectionRegistry;
  log: Logger;
  /** requests per five minutes per token; 0 turns the limit off (default 1,200, as Cloudflare) */
  rateLimit?: number;
  /** the edge cache purge_cache acts on (null: the cache is off, purges remove nothing) */
  cache?: EdgeCache | null;
}

type Ctx = { account: string; q: URLSearchParams; body: Record<string, unknown>; m: string[] };
type Route = { method: string; path: RegExp; name: string; run: (c: Ctx) => Reply | Promise<Reply> };

export interface ApiCall {
  method: string;
  route: string;
  status: number;
}

/**
 * The subset of Cloudflare's v4 API that tunnel-ingress uses (../shared/cloudflare-api), under
 * /client/v4 on edge-sim's API listener: bearer tokens bound to accounts, the envelope and error codes,
 * Cloudflare's rate limit, and fault modes for tests.
 */
export class CloudflareApi {
  readonly faults = new ApiFaults();
  /** every call, for tests and the benchmark to count (capped) */
  readonly calls: ApiCall[] = [];
  private readonly limiter: RateLimiter;
  /** purge_cache, and the purges done (for tests and the bench) */
  readonly purges: PurgeApi;
  private readonly routes: Route[];

  constructor(private readonly opts: CloudflareApiOptions) {
    this.limiter = new RateLimiter(opts.rateLimit ?? 1200);
    const t = new TunnelsApi({ store: opts.store, registry: opts.registry, log: opts.log });
    const d = new DnsApi(opts.dns);
    const hostnames = new HostnameRoutes(opts.dns, opts.store);
    this.purges = new PurgeApi(opts.dns, opts.cache ?? null);
    const purges = this.purges;
    const ACCT = '/accounts/([^/]+)/cfd_tunnel';
    const TUN = `${ACCT}/([0-9a-fA-F-]{36})`;
    const ZONE = '/zones/([0-9a-f]{1,32})/dns_records';
    const r = (method: string, path: string, name: string, run: Route['run']): Route => ({
      method,
      path: new RegExp(`^${path}$`),
      name,
      run,
    });
    this.routes = [
      r('GET', ACCT, 'tunnels.list', (c) => t.list(c.account, c.q)),
      r('POST', ACCT, 'tunnels.create', (c) => t.create(c.account, c.body)),
      r('GET', TUN, 'tunnels.get', (c) => t.get(c.account, c.m[2] as string)),
      r('PATCH', TUN, 'tunnels.patch', (c) => t.patch(c.account, c.m[2] as string, c.body)),
      r('DELETE', TUN, 'tunnels.delete', (c) => t.delete(c.account, c.m[2] as string)),
      r('GET', `${TUN}/token`, 'tunnels.token', (c) => t.token(c.account, c.m[2] as string)),
      r('GET', `${TUN}/connections`, 'tunnels.connections', (c) =>
        t.connections(c.account, c.m[2] as string),
      ),
      r('DELETE', `${TUN}/connections`, 'tunnels.cleanup', (c) =>
        t.cleanupConnections(c.account, c.m[2] as string),
      ),
      r('GET', `${TUN}/configurations`, 'tunnels.config.get', (c) =>
        t.getConfiguration(c.account, c.m[2] as string),
      ),
      r('PUT', `${TUN}/configurations`, 'tunnels.config.put', (c) =>
        t.putConfiguration(c.account, c.m[2] as string, c.body),
      ),
      r('GET', '/zones', 'zones.list', (c) => d.listZones(c.account, c.q)),
      r('PUT', '/zones/([0-9a-f]{1,32})/tunnels/([0-9a-fA-F-]{36})/routes', 'tunnels.route', (c) =>
        hostnames.put(c.account, c.m[1] as string, c.m[2] as string, c.body),
      ),
      r('POST', '/zones/([0-9a-f]{1,32})/purge_cache', 'cache.purge', (c) =>
        purges.purge(c.account, c.m[1] as string, c.body),
      ),
      r('GET', ZONE, 'dns.list', (c) => d.listRecords(c.account, c.m[1] as string, c.q)),
      r('POST', ZONE, 'dns.create', (c) => d.createRecord(c.account, c.m[1] as string, c.body)),
      r('GET', `${ZONE}/([0-9a-f]{32})`, 'dns.get', (c) =>
        d.getRecord(c.account, c.m[1] as string, c.m[2] as string),
      ),
      r('PATCH', `${ZONE}/([0-9a-f]{32})`, 'dns.patch', (c) =>
        d.updateRecord(c.account, c.m[1] as string, c.m[2] as string, c.body, true),
      ),
      r('PUT', `${ZONE}/([0-9a-f]{32})`, 'dns.put', (c) =>
        d.updateRecord(c.account, c.m[1] as string, c.m[2] as string, c.body, false),
      ),
      r('DELETE', `${ZONE}/([0-9a-f]{32})`, 'dns.delete', (c) =>
        d.deleteRecord(c.account, c.m[1] as string, c.m[2] as string),
      ),
    ];
  }

  /** Serves one request whose path starts with /client/v4. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    this.serve(req, res, url).catch((err: unknown) => {
      this.opts.log.error({ err: (err as Error).message }, 'API handler failed');
      if (!res.headersSent) sendError(res, new ApiError(500, 10001, 'Internal error'));
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice(API_PREFIX.length) || '/';
    const method = req.method ?? 'GET';
    let routeName = 'unknown';
    const record = (status: number) => {
      if (this.calls.length < 100_000) this.calls.push({ method, route: routeName, status });
    };
    try {
      const candidates = this.routes.filter((r) => r.path.test(path));
      const route = candidates.find((r) => r.method === method);
      if (route !== undefined) routeName = route.name;
      const account = this.authenticate(req);
      const wait = this.limiter.check(account.token);
      if (wait !== null) {
        req.resume();
        record(429);
        sendError(
          res,
          new ApiError(429, 10013, 'Rate limited. Please wait and consider throttling your request speed'),
          {
            'retry-after': String(wait),
          },
        );
        return;
      }
      const fault = this.faults.take();
      if (fault !== null) {
        if (fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
        if (fault.garbage || fault.truncate) {
          req.resume();
          record(200);
          if (fault.garbage) {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":tru<html>oops');
          } else {
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
            res.write('{"success":true,"errors":[],"messages":[],"result":[{"id":"');
            setTimeout(() => res.destroy(), 20);
          }
          return;
        }
        if (fault.status !== null) {
          req.resume();
          record(fault.status);
          const headers: Record<string, string> = {};
          if (fault.status === 429) headers['retry-after'] = String(fault.retryAfterS);
          sendError(
            res,
            new ApiError(fault.status, fault.status === 429 ? 10013 : 10000 + fault.status, 'injected fault'),
            headers,
          );
          return;
        }
      }
      if (route === undefined) {
        req.resume();
        if (candidates.length > 0) throw new ApiError(405, 10405, `Method ${method} not allowed for ${path}`);
        throw new ApiError(
          404,
          7003,
          `Could not route to ${path}, perhaps your object identifier is invalid?`,
        );
      }
      const m = route.path.exec(path) as RegExpExecArray;
      if (m[1] !== undefined && path.startsWith('/accounts/') && m[1] !== account.account) {
        throw new ApiError(403, 10000, 'Authentication error');
      }
      const body = await readJson(req, method);
      const reply = await route.run({ account: account.account, q: url.searchParams, body, m: [...m] });
      record(200);
      sendResult(res, reply.result, reply.info);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, 10001, 'Internal error');
      if (!(err instanceof ApiError)) this.opts.log.error({ err: (err as Error).message }, 'API call failed');
      record(e.status);
      sendError(res, e);
    }
  }

  private authenticate(req: IncomingMessage): ApiToken {
    const auth = req.headers.authorization;
    if (auth === undefined) {
      throw new ApiError(400, 9106, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers');
    }
    const m = /^Bearer (\S+)$/.exec(auth);
    if (m === null) throw new ApiError(400, 6111, 'Invalid format for Authorization header');
    const given = Buffer.from(m[1] as string);
    for (const t of this.opts.tokens) {
      const want = Buffer.from(t.token);
      if (want.length === given.length && timingSafeEqual(want, given)) return t;
    }
    throw new ApiError(403, 9109, 'Invalid access token');
  }
}

async function readJson(req: IncomingMessage, method: string): Promise<Record<string, unknown>> {
  if (method === 'GET' || method === 'DELETE' || method === 'HEAD') {
    req.resume();
    return {};
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 6002, 'Request body too large');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(400, 6007, 'Malformed JSON in request body');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(400, 6007, 'The request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
