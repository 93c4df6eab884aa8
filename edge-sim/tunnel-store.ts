import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  formatCredentialsFile,
  formatToken,
  parseCredentialsFile,
  type TunnelCredentials,
} from '../tunnel/credentials.js';

/**
 * The tunnels edge-sim knows, kept as cloudflared credentials files under STATE/tunnels so that a
 * restarted edge-sim accepts the same connectors. `--create-tunnel NAME` writes NAME.json and
 * NAME.token; tunnels created through the API are ID.json. What the API adds (deletion, config_src,
 * the remote configuration) lives beside them in ID.meta.json.
 */
export interface Tunnel {
  id: string;
  name: string;
  accountTag: string;
  secret: Buffer;
  createdAt: string;
  deletedAt: string | null;
  configSrc: 'local' | 'cloudflare';
  /** the remote configuration and its version, for config_src cloudflare */
  config: { version: number; config: Record<string, unknown> } | null;
}

interface Meta {
  name: string;
  createdAt: string;
  deletedAt: string | null;
  configSrc: 'local' | 'cloudflare';
  config: Tunnel['config'];
}

export class TunnelStore {
  private readonly byIdMap = new Map<string, Tunnel>();
  /** live (not deleted) tunnels only: a deleted tunnel's name may be taken again */
  private readonly byNameMap = new Map<string, Tunnel>();

  constructor(
    private readonly stateDir: string,
    readonly accountTag: string,
  ) {}

  private get dir(): string {
    return path.join(this.stateDir, 'tunnels');
  }

  static async open(stateDir: string, accountTag?: string): Promise<TunnelStore> {
    await mkdir(path.join(stateDir, 'tunnels'), { recursive: true });
    const tagFile = path.join(stateDir, 'account-tag');
    let tag = accountTag;
    if (tag === undefined) {
      try {
        tag = (await readFile(tagFile, 'utf8')).trim();
      } catch {
        tag = randomBytes(16).toString('hex');
      }
    }
    await writeFile(tagFile, tag + '\n');
    const store = new TunnelStore(stateDir, tag);
    const files = await readdir(store.dir);
    for (const file of files) {
      if (!file.endsWith('.json') || file.endsWith('.meta.json')) continue;
      const creds = parseCredentialsFile(await readFile(path.join(store.dir, file), 'utf8'));
      let meta: Meta | null = null;
      try {
        meta = JSON.parse(
          await readFile(path.join(store.dir, `${creds.tunnelId}.meta.json`), 'utf8'),
        ) as Meta;
      } catch {
        // a --create-tunnel tunnel that the API never touched
      }
      store.add({
        id: creds.tunnelId,
        name: meta?.name ?? file.slice(0, -'.json'.length),
        accountTag: creds.accountTag,
        secret: creds.tunnelSecret,
        // A state dir from before creation times were saved: the credentials file's age.
        createdAt: meta?.createdAt ?? (await stat(path.join(store.dir, file))).mtime.toISOString(),
        deletedAt: meta?.deletedAt ?? null,
        configSrc: meta?.configSrc ?? 'local',
        config: meta?.config ?? null,
      });
    }
    return store;
  }

  private add(t: Tunnel): void {
    this.byIdMap.set(t.id, t);
    if (t.deletedAt === null) this.byNameMap.set(t.name, t);
  }

  list(): Tunnel[] {
    return [...this.byIdMap.values()];
  }

  byId(id: string): Tunnel | undefined {
    return this.byIdMap.get(id.toLowerCase());
  }

  byName(name: string): Tunnel | undefined {
    return this.byNameMap.get(name);
  }

  /** By name or id, as `--route HOST=TUNNEL` accepts either. */
  find(nameOrId: string): Tunnel | undefined {
    return this.byName(nameOrId) ?? this.byId(nameOrId);
  }

  credentials(t: Tunnel): TunnelCredentials {
    return { accountTag: t.accountTag, tunnelSecret: t.secret, tunnelId: t.id, endpoint: '' };
  }

  /** Creates a tunnel (or returns the existing one) and writes NAME.json and NAME.token. */
  async create(name: string): Promise<Tunnel> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`invalid tunnel name: ${name}`);
    const existing = this.byName(name);
    if (existing !== undefined) return existing;
    const t = this.fresh(name, randomBytes(32), 'local');
    await writeFile(path.join(this.dir, `${name}.json`), formatCredentialsFile(this.credentials(t)), {
      mode: 0o600,
    });
    await writeFile(path.join(this.dir, `${name}.token`), formatToken(this.credentials(t)) + '\n', {
      mode: 0o600,
    });
    this.add(t);
    // Its creation time outlives this process (the API reports it; a restart must not renew it).
    await this.saveMeta(t);
    return t;
  }

  /** The API's create: the caller has checked that the name is free. */
  async createFromApi(name: string, secret: Buffer, configSrc: 'local' | 'cloudflare'): Promise<Tunnel> {
    const t = this.fresh(name, secret, configSrc);
    // Taken before any await: a second create of the same name, arriving meanwhile, must see it.
    this.add(t);
    try {
      await writeFile(path.join(this.dir, `${t.id}.json`), formatCredentialsFile(this.credentials(t)), {
        mode: 0o600,
      });
      await this.saveMeta(t);
    } catch (err) {
      this.byIdMap.delete(t.id);
      if (this.byNameMap.get(t.name) === t) this.byNameMap.delete(t.name);
      throw err;
    }
    return t;
  }

  private fresh(name: string, secret: Buffer, configSrc: 'local' | 'cloudflare'): Tunnel {
    return {
      id: randomUUID(),
      name,
      accountTag: this.accountTag,
      secret,
      createdAt: new Date().toISOString(),
      deletedAt: null,
      configSrc,
      config: null,
    };
  }

  /** Applies an API change (rename, soft delete, configuration) and saves it. */
  async update(t: Tunnel, change: Partial<Pick<Tunnel, 'name' | 'deletedAt' | 'config'>>): Promise<void> {
    if (this.byNameMap.get(t.name) === t) this.byNameMap.delete(t.name);
    Object.assign(t, change);
    if (t.deletedAt === null) this.byNameMap.set(t.name, t);
    await this.saveMeta(t);
  }

  private async saveMeta(t: Tunnel): Promise<void> {
    const meta: Meta = {
      name: t.name,
      createdAt: t.createdAt,
      deletedAt: t.deletedAt,
      configSrc: t.configSrc,
      config: t.config,
    };
    const file = path.join(this.dir, `${t.id}.meta.json`);
    await writeFile(`${file}.tmp`, JSON.stringify(meta));
    await rename(`${file}.tmp`, file);
  }
}
