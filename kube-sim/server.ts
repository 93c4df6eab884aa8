import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Pki } from '../common/pki.js';
import { parse as parseYaml } from 'yaml';
import { listen, type HostPort } from '../common/net.js';
import { AuditLog } from './audit-log.js';
import { Authorizer, type Decision, type ResourceAttributes, type UserInfo } from './authorizer.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { Faults, type Fault } from './faults.js';
import { Handlers, type WriteOptions } from './handlers.js';
import { buildOpenApi, type OpenApiIndex } from './openapi.js';
import { attributesOf, type Target } from './request-attributes.js';
import { RESOURCES, type KubeObject } from './resources.js';
import { ApiError, type Reason } from './status.js';
import { decodeProtobufObject } from './protobuf.js';
import type { Store } from './store.js';
import { tableOf, wantsTable } from './table.js';
import { WatchHub } from './watch.js';

export interface KubeSimOptions {
  listen: HostPort;
  /** kubectl sends bearer tokens only over TLS, so kube-sim always serves HTTPS */
  pki: Pki;
  /** who each bearer token is (tokens.ts) */
  users: Map<string, UserInfo>;
  /** AlwaysAllow (any authenticated user may do anything) or RBAC (authorizer.ts) */
  authorization: 'AlwaysAllow' | 'RBAC';
  /** append one JSON line per resource request here, as kube-apiserver's --audit-log-path */
  auditLog?: string;
  store: Store;
  bookmarkIntervalMs?: number;
  /** accept loopback EndpointSlice addresses (pods that are local processes), which the API server refuses */
  allowLoopbackEndpoints?: boolean;
}

export interface RequestRecord {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  /** the object named, by the URL or by a list or watch's fieldSelector metadata.name */
  name?: string;
  group: string;
  user: string;
  code: number;
  /** false when RBAC forbade it */
  allowed: boolean;
}

const MAX_BODY = 3 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function fieldManagerFrom(req: IncomingMessage, q: URLSearchParams): string {
  const explicit = q.get('fieldManager');
  if (explicit !== null) return explicit;
  // The API server's default: the user agent up to the first '/'.
  const ua = req.headers['user-agent'] ?? 'unknown';
  return ua.split('/')[0] ?? 'unknown';
}

/**
 * kube-sim's HTTP front: discovery, OpenAPI, the resource verbs, bearer-token authentication, and the
 * /_sim endpoints tests use to inject faults and read what was asked. Every failure is a Status object;
 * nothing a client sends can make it answer 500.
 */
export class KubeSimServer {
  readonly server: https.Server;
  readonly handlers: Handlers;
  readonly watches = new WatchHub();
  readonly faults = new Faults();
  readonly requests: RequestRecord[] = [];
  private readonly openapi: OpenApiIndex;
  private readonly authorizer: Authorizer;
  private readonly auditLog: AuditLog | null;
  private address = '';

  constructor(private readonly opts: KubeSimOptions) {
    this.handlers = new Handlers(opts.store, RESOURCES, {
      allowLoopback: opts.allowLoopbackEndpoints === true,
    });
    this.openapi = buildOpenApi(RESOURCES);
    this.authorizer = new Authorizer(opts.store);
    this.auditLog = opts.auditLog === undefined ? null : new AuditLog(opts.auditLog);
    this.server = https.createServer(
      { key: opts.pki.keyPem, cert: opts.pki.certPem, maxHeaderSize: 64 * 1024 },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => this.fail(res, err));
      },
    );
  }

  async listen(): Promise<HostPort> {
    const at = await listen(this.server, this.opts.listen);
    this.address = `${at.host}:${at.port}`;
    return at;
  }

  close(): Promise<void> {
    this.watches.dropAll();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
    const text = JSON.stringify(body);
    const headers: Record<string, string | number | string[]> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    };
    if (warnings.length > 0) headers.warning = warnings.map((w) => `299 - "${w.replace(/"/g, "'")}"`);
    res.writeHead(code, headers);
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    const e =
      err instanceof ApiError
        ? err
        : new ApiError(
            500,
            'InternalError',
            `internal error: ${err instanceof Error ? err.message : String(err)}`,
          );
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.send(res, e.code, e.toStatus());
  }

  private authenticate(req: IncomingMessage): UserInfo {
    const auth = req.headers.authorization;
    const m = auth === undefined ? null : /^Bearer\s+(\S+)$/i.exec(auth);
    const user = m === null ? undefined : this.opts.users.get(m[1] as string);
    if (user === undefined) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    return user;
  }

  private authorize(user: UserInfo, a: ResourceAttributes): Decision {
    if (this.opts.authorization === 'AlwaysAllow') return { allowed: true, reason: 'AlwaysAllow' };
    return this.authorizer.authorize(user, a);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kube-sim');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path.startsWith('/_sim/')) return this.sim(req, res, path, method);
    if (path === '/healthz' || path === '/readyz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const user = this.authenticate(req);
    const fault = this.faults.take(method, path);
    if (fault !== null) {
      if (await this.injectFault(res, fault)) return;
    }
    if (method === 'GET') {
      const doc = this.discovery(path);
      if (doc !== undefined) {
        if (doc === null)
          throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        if (typeof doc === 'string') {
          res
            .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(doc) })
            .end(doc);
        } else this.send(res, 200, doc);
        return;
      }
    }
    const target = this.route(path);
    if (target === null)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const attrs = attributesOf(method, target, url.searchParams);
    const decision = this.authorize(user, attrs);
    const record: RequestRecord = {
      verb: attrs.verb,
      resource: target.r.plural,
      group: target.r.group,
      user: user.name,
      code: 200,
      allowed: decision.allowed,
    };
    if (target.subresource !== undefined) record.subresource = target.subresource;
    if (target.namespace !== undefined) record.namespace = target.namespace;
    if (attrs.name !== undefined) record.name = attrs.name;
    this.requests.push(record);
    if (this.requests.length > 100_000) this.requests.splice(0, 50_000);
    res.on('close', () => {
      record.code = res.headersSent ? res.statusCode : 0;
      this.auditLog?.write(user, attrs, decision, record.code);
    });
    if (!decision.allowed) {
      req.resume();
      const { name, group, resource } = attrs;
      throw new ApiError(403, 'Forbidden', decision.reason, {
        ...(name === undefined ? {} : { name }),
        group,
        kind: resource,
      });
    }
    await this.verb(req, res, url.searchParams, method, target);
  }

  private async injectFault(res: ServerResponse, f: Fault): Promise<boolean> {
    if (f.delayMs !== undefined) await new Promise((r) => setTimeout(r, f.delayMs));
    if (f.status !== undefined) {
      const reason = (f.reason ??
        (f.status === 429 ? 'TooManyRequests' : f.status === 504 ? 'Timeout' : 'InternalError')) as Reason;
      const details =
        f.cause === undefined ? undefined : { causes: [{ reason: f.cause, message: f.message ?? '' }] };
      this.send(
        res,
        f.status,
        new ApiError(f.status, reason, f.message ?? `injected fault (${f.status})`, details).toStatus(),
      );
      return true;
    }
    if (f.garbage === true) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('<html>this is not JSON');
      return true;
    }
    if (f.truncate === true) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
      res.write('{"kind":"List","items":[{"metadata":');
      setTimeout(() => res.destroy(), 10);
      return true;
    }
    return false;
  }

  private discovery(path: string): unknown {
    if (path === '/version') return versionInfo();
    if (path === '/api') return apiVersions(this.address);
    if (path === '/apis') return apiGroupList(RESOURCES);
    if (path === '/openapi/v3') return this.openapi.index;
    if (path.startsWith('/openapi/v3/'))
      return this.openapi.docs.get(path.slice('/openapi/v3/'.length))?.body ?? null;
    if (path === '/openapi/v2') return null;
    if (path === '/api/v1') return apiResourceList(RESOURCES, '', 'v1');
    const g = /^\/apis\/([^/]+)$/.exec(path);
    if (g !== null) return apiGroup(RESOURCES, g[1] as string);
    const gv = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (gv !== null) return apiResourceList(RESOURCES, gv[1] as string, gv[2] as string);
    return undefined;
  }

  private route(path: string): Target | null {
    const parts = path.split('/').filter((p) => p !== '');
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 3) {
      [group, version, rest] = ['', parts[1] as string, parts.slice(2)];
    } else if (parts[0] === 'apis' && parts.length >= 4) {
      [group, version, rest] = [parts[1] as string, parts[2] as string, parts.slice(3)];
    } else return null;
    const find = (plural: string) =>
      RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      const r = find(rest[2] as string);
      if (r === undefined || !r.namespaced) return null;
      if (rest.length > 5) return null;
      const t: Target = { r, namespace: decodeURIComponent(rest[1] as string) };
      if (rest[3] !== undefined) t.name = decodeURIComponent(rest[3]);
      if (rest[4] !== undefined) t.subresource = rest[4];
      return t;
    }
    const r = find(rest[0] as string);
    if (r === undefined || rest.length > 3) return null;
    const t: Target = { r };
    if (rest[1] !== undefined) t.name = decodeURIComponent(rest[1]);
    if (rest[2] !== undefined) t.subresource = rest[2];
    return t;
  }

  private async verb(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    method: string,
    t: Target,
  ): Promise<void> {
    const { r, namespace, name, subresource } = t;
    if (subresource !== undefined && (subresource !== 'status' || !r.statusSubresource)) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const status = subresource === 'status';
    const fieldValidation = (q.get('fieldValidation') ?? 'Warn') as WriteOptions['fieldValidation'];
    if (!['Strict', 'Warn', 'Ignore'].includes(fieldValidation))
      throw new ApiError(
        400,
        'BadRequest',
        `fieldValidation must be Strict, Warn or Ignore, got "${fieldValidation}"`,
      );
    const isApply = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/apply-patch');
    const opts: WriteOptions = {
      // Apply requires an explicit field manager; other writes default to the user agent's name.
      fieldManager: isApply ? (q.get('fieldManager') ?? '') : fieldManagerFrom(req, q),
      fieldValidation,
      dryRun: dryRunOf(q.getAll('dryRun')),
      warnings: [],
    };
    const table = wantsTable(req.headers.accept);
    const match = () => this.handlers.matchers(r, q.get('labelSelector'), q.get('fieldSelector'));

    if (method === 'GET' && name === undefined) {
      const watch = q.get('watch');
      if (watch === 'true' || watch === '1') {
        this.watches.serve(res, {
          store: this.opts.store,
          r,
          namespace,
          match: match(),
          resourceVersion: q.get('resourceVersion'),
          bookmarks: q.get('allowWatchBookmarks') === 'true',
          bookmarkIntervalMs: this.opts.bookmarkIntervalMs ?? 15_000,
          timeoutSeconds: Number(q.get('timeoutSeconds') ?? 1800) || 1800,
          table,
          includeObject: q.get('includeObject'),
        });
        return;
      }
      const list = this.handlers.list(
        r,
        namespace,
        match(),
        Number(q.get('limit') ?? 0) || 0,
        q.get('continue'),
      );
      if (table) {
        this.send(
          res,
          200,
          tableOf(
            r,
            (list as { items: KubeObject[] }).items,
            String(list.metadata?.resourceVersion),
            q.get('includeObject'),
          ),
        );
      } else this.send(res, 200, list);
      return;
    }
    if (method === 'GET') {
      const obj = this.handlers.get(r, namespace, name as string);
      this.send(
        res,
        200,
        table ? tableOf(r, [obj], String(obj.metadata?.resourceVersion), q.get('includeObject')) : obj,
      );
      return;
    }
    const contentType = (req.headers['content-type'] ?? 'application/json').toLowerCase();
    const protobuf = contentType.startsWith('application/vnd.kubernetes.protobuf');
    if ((contentType.includes('protobuf') && !protobuf) || contentType.includes('cbor')) {
      req.resume();
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json',
      );
    }
    const body = await readBody(req);
    const raw = protobuf ? '' : body.toString('utf8');
    const parse = (): unknown => {
      if (protobuf) return body.length === 0 ? null : decodeProtobufObject(body);
      if (raw.trim() === '') return null;
      try {
        return contentType.includes('yaml') ? parseYaml(raw) : JSON.parse(raw);
      } catch (err) {
        throw new ApiError(
          400,
          'BadRequest',
          `the body of the request could not be decoded: ${(err as Error).message}`,
        );
      }
    };
    if (method === 'POST' && name === undefined) {
      // 201 for a dry run too, as the real server answers (the object was not stored all the same).
      this.send(res, 201, this.handlers.create(r, namespace, parse(), opts), opts.warnings);
      return;
    }
    if (method === 'PUT' && name !== undefined) {
      this.send(res, 200, this.handlers.update(r, namespace, name, parse(), opts, status), opts.warnings);
      return;
    }
    if (method === 'PATCH' && name !== undefined) {
      const out = this.handlers.patch(
        r,
        namespace,
        name,
        contentType,
        parse(),
        { ...opts, force: q.get('force') === 'true' },
        status,
      );
      this.send(res, out.created ? 201 : 200, out.object, opts.warnings);
      return;
    }
    if (method === 'DELETE') {
      // kubectl says dry run for a delete in the body's DeleteOptions, not in the query.
      const body = parse();
      const dryRun = opts.dryRun || dryRunOf((body as { dryRun?: unknown } | null)?.dryRun);
      if (name !== undefined) this.send(res, 200, this.handlers.delete(r, namespace, name, body, dryRun));
      else this.send(res, 200, this.handlers.deleteCollection(r, namespace, match(), dryRun));
      return;
    }
    throw new ApiError(
      405,
      'MethodNotAllowed',
      `the server does not allow this method on the requested resource`,
    );
  }

  private async sim(req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
    const body = method === 'POST' ? (await readBody(req)).toString('utf8') : '';
    switch (`${method} ${path}`) {
      case 'POST /_sim/drop-watches':
        this.send(res, 200, { dropped: this.watches.dropAll() });
        return;
      case 'POST /_sim/compact':
        this.opts.store.compact();
        this.send(res, 200, {
          compactedAt: this.opts.store.resourceVersion,
          dropped: this.watches.dropAll(),
        });
        return;
      case 'POST /_sim/faults':
        this.faults.set(
          (JSON.parse(body === '' ? '[]' : body) as Fault[] | Fault) instanceof Array
            ? (JSON.parse(body) as Fault[])
            : [JSON.parse(body) as Fault],
        );
        this.send(res, 200, { ok: true });
        return;
      case 'GET /_sim/faults':
        // with what is left of each count: how many requests each fault has answered
        this.send(res, 200, { faults: this.faults.list() });
        return;
      case 'DELETE /_sim/faults':
        this.faults.clear();
        this.send(res, 200, { ok: true });
        return;
      case 'GET /_sim/requests':
        this.send(res, 200, { requests: this.requests });
        return;
      default:
        throw new ApiError(404, 'NotFound', `no such kube-sim endpoint: ${method} ${path}`);
    }
  }
}

/**
 * A dry run as the API server reads it: `dryRun=All` (query) or `dryRun: ["All"]` (DeleteOptions);
 * any other value is refused, as there, rather than taken as a real write.
 */
function dryRunOf(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  const values = Array.isArray(value) ? value : [value];
  for (const v of values)
    if (v !== 'All')
      throw new ApiError(
        400,
        'BadRequest',
        `dryRun: Unsupported value: "${String(v)}": supported values: "All"`,
      );
  return values.length > 0;
}
