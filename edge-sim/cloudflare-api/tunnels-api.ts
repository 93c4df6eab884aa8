import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { formatToken } from '../../tunnel/credentials.js';
import type { ConnectionRegistry, EdgeConnection } from '../connection-registry.js';
import type { Tunnel, TunnelStore } from '../tunnel-store.js';
import { ApiError, paginate, type ResultInfo } from './envelope.js';

/**
 * /accounts/:account/cfd_tunnel: tunnels as Cloudflare's API shows them, backed by the same store the
 * tunnel listener authenticates connectors against, with live connections from the registry.
 */
export interface TunnelsApiDeps {
  store: TunnelStore;
  registry: ConnectionRegistry;
  log: Logger;
}

export type Reply = { result: unknown; info?: ResultInfo };

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

export class TunnelsApi {
  constructor(private readonly d: TunnelsApiDeps) {}

  private find(account: string, id: string): Tunnel {
    const t = this.d.store.byId(id);
    if (t === undefined || t.accountTag !== account) throw new ApiError(404, 1003, 'Tunnel not found');
    return t;
  }

  private view(t: Tunnel): Record<string, unknown> {
    const conns = this.d.registry.forTunnel(t.id);
    const lastActive = this.d.registry.lastActive(t.id);
    return {
      id: t.id,
      account_tag: t.accountTag,
      created_at: t.createdAt,
      deleted_at: t.deletedAt,
      name: t.name,
      connections: conns.map(connectionView),
      conns_active_at: conns.length === 0 ? null : minDate(conns).toISOString(),
      conns_inactive_at: conns.length === 0 && lastActive !== null ? lastActive.toISOString() : null,
      tun_type: 'cfd_tunnel',
      metadata: {},
      remote_config: t.configSrc === 'cloudflare',
      status: conns.length > 0 ? 'healthy' : lastActive === null ? 'inactive' : 'down',
    };
  }

  list(account: string, q: URLSearchParams): Reply {
    const name = q.get('name');
    const isDeleted = q.get('is_deleted');
    const uuid = q.get('uuid');
    // cloudflared's `tunnel list --name-prefix`, `--exclude-name-prefix` and `--when`.
    const include = q.get('include_prefix');
    const exclude = q.get('exclude_prefix');
    const existedAt = q.get('existed_at');
    const status = q.get('status');
    let existed: number | null = null;
    if (existedAt !== null && existedAt !== '') {
      existed = Date.parse(existedAt);
      if (Number.isNaN(existed)) throw new ApiError(400, 1001, `existed_at: not a date-time: ${existedAt}`);
    }
    const items = this.d.store
      .list()
      .filter(
        (t) =>
          t.accountTag === account &&
          (name === null || t.name === name) &&
          (uuid === null || t.id === uuid.toLowerCase()) &&
          (isDeleted === null || isDeleted === '' || (isDeleted === 'true') === (t.deletedAt !== null)) &&
          (include === null || include === '' || t.name.startsWith(include)) &&
          (exclude === null || exclude === '' || !t.name.startsWith(exclude)) &&
          (existed === null ||
            (Date.parse(t.createdAt) <= existed &&
              (t.deletedAt === null || Date.parse(t.deletedAt) > existed))) &&
          (status === null || status === '' || this.view(t).status === status),
      )
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    const [page, info] = paginate(items, q, 1000);
    return { result: page.map((t) => this.view(t)), info };
  }

  async create(account: string, body: Record<string, unknown>): Promise<Reply> {
    const name = body.name;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new ApiError(400, 1001, 'Invalid tunnel name: 1 to 64 letters, digits, spaces, dots, dashes');
    }
    if (
      this.d.store.list().some((t) => t.accountTag === account && t.name === name && t.deletedAt === null)
    ) {
      throw new ApiError(
        409,
        1013,
        'You already have a tunnel with this name. Delete the existing tunnel, or choose a different name for your new tunnel',
      );
    }
    const configSrc = body.config_src ?? 'local';
    if (configSrc !== 'local' && configSrc !== 'cloudflare') {
      throw new ApiError(400, 1001, 'config_src must be "local" or "cloudflare"');
    }
    let secret: Buffer;
    if (body.tunnel_secret === undefined) {
      secret = randomBytes(32);
    } else if (typeof body.tunnel_secret === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(body.tunnel_secret)) {
      secret = Buffer.from(body.tunnel_secret, 'base64');
      if (secret.length < 32) throw new ApiError(400, 1001, 'tunnel_secret must be at least 32 bytes');
    } else {
      throw new ApiError(400, 1001, 'tunnel_secret must be base64');
    }
    const t = await this.d.store.createFromApi(name, secret, configSrc);
    this.d.log.info({ tunnel: t.name, tunnelId: t.id }, 'tunnel created through the API');
    return {
      result: {
        ...this.view(t),
        credentials_file: {
          AccountTag: t.accountTag,
          TunnelID: t.id,
          TunnelName: t.name,
          TunnelSecret: t.secret.toString('base64'),
        },
        token: formatToken(this.d.store.credentials(t)),
      },
    };
  }

  get(account: string, id: string): Reply {
    return { result: this.view(this.find(account, id)) };
  }

  async patch(account: string, id: string, body: Record<string, unknown>): Promise<Reply> {
    const t = this.find(account, id);
    if (t.deletedAt !== null) throw new ApiError(400, 1009, 'Tunnel has been deleted');
    if (body.tunnel_secret !== undefined) {
      throw new ApiError(400, 1001, 'edge-sim does not rotate tunnel secrets; create a new tunnel');
    }
    if (body.name !== undefined) {
      if (typeof body.name !== 'string' || !NAME.test(body.name)) {
        throw new ApiError(400, 1001, 'Invalid tunnel name');
      }
      const clash = this.d.store.byName(body.name);
      if (clash !== undefined && clash !== t) {
        throw new ApiError(409, 1013, 'You already have a tunnel with this name.');
      }
      await this.d.store.update(t, { name: body.name });
    }
    return { result: this.view(t) };
  }

  async delete(account: string, id: string): Promise<Reply> {
    const t = this.find(account, id);
    if (t.deletedAt !== null) throw new ApiError(400, 1009, 'Tunnel has been deleted');
    if (this.d.registry.forTunnel(t.id).length > 0) {
      throw new ApiError(400, 1022, 'Cannot delete tunnel because it has active connections');
    }
    await this.d.store.update(t, { deletedAt: new Date().toISOString() });
    return { result: this.view(t) };
  }

  token(account: string, id: string): Reply {
    const t = this.find(account, id);
    if (t.deletedAt !== null) throw new ApiError(400, 1009, 'Tunnel has been deleted');
    return { result: formatToken(this.d.store.credentials(t)) };
  }

  connections(account: string, id: string): Reply {
    const t = this.find(account, id);
    const byClient = new Map<string, EdgeConnection[]>();
    for (const c of this.d.registry.forTunnel(t.id)) {
      const list = byClient.get(c.clientId) ?? [];
      list.push(c);
      byClient.set(c.clientId, list);
    }
    const result = [...byClient.entries()].map(([clientId, conns]) => {
      const first = conns[0] as EdgeConnection;
      return {
        id: clientId,
        arch: first.clientArch,
        version: first.clientVersion,
        features: first.features,
        config_version: t.config?.version ?? 0,
        run_at: minDate(conns).toISOString(),
        conns: conns.map(connectionView),
      };
    });
    return { result };
  }

  /** Connections that are draining (unregistered, pending reconnect) are closed; live ones stay. */
  cleanupConnections(account: string, id: string): Reply {
    const t = this.find(account, id);
    for (const c of [...this.d.registry.forTunnel(t.id)]) if (c.draining) c.link.close();
    return { result: {} };
  }

  getConfiguration(account: string, id: string): Reply {
    const t = this.find(account, id);
    return { result: configView(t) };
  }

  /** Stores the configuration and pushes it to every connection of the tunnel with UpdateConfiguration. */
  async putConfiguration(account: string, id: string, body: Record<string, unknown>): Promise<Reply> {
    const t = this.find(account, id);
    if (t.deletedAt !== null) throw new ApiError(400, 1009, 'Tunnel has been deleted');
    const config = body.config;
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new ApiError(400, 1001, 'config must be an object');
    }
    const version = (t.config?.version ?? 0) + 1;
    await this.d.store.update(t, { config: { version, config: config as Record<string, unknown> } });
    for (const c of this.d.registry.forTunnel(t.id)) {
      c.link.pushConfiguration(version, config).catch((err: unknown) => {
        this.d.log.warn({ connectionId: c.id, err: (err as Error).message }, 'configuration push failed');
      });
    }
    return { result: configView(t) };
  }
}

function configView(t: Tunnel): Record<string, unknown> {
  return {
    tunnel_id: t.id,
    account_id: t.accountTag,
    version: t.config?.version ?? 0,
    config: t.config?.config ?? null,
    source: t.configSrc,
    created_at: t.createdAt,
  };
}

function connectionView(c: EdgeConnection): Record<string, unknown> {
  return {
    id: c.id,
    uuid: c.id,
    client_id: c.clientId,
    client_version: c.clientVersion,
    colo_name: c.location,
    is_pending_reconnect: c.draining,
    opened_at: c.openedAt.toISOString(),
    origin_ip: c.remoteAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''),
  };
}

function minDate(conns: readonly EdgeConnection[]): Date {
  let d = (conns[0] as EdgeConnection).openedAt;
  for (const c of conns) if (c.openedAt < d) d = c.openedAt;
  return d;
}
