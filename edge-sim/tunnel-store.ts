import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  formatCredentialsFile,
  formatToken,
  parseCredentialsFile,
  type TunnelCredentials,
} from '../tunnel/credentials.js';

/**
 * The tunnels edge-sim knows, kept as cloudflared credentials files under STATE/tunnels so that a
 * restarted edge-sim accepts the same connectors.
 */
export interface Tunnel {
  id: string;
  name: string;
  accountTag: string;
  secret: Buffer;
  createdAt: string;
}

export class TunnelStore {
  private readonly byIdMap = new Map<string, Tunnel>();
  private readonly byNameMap = new Map<string, Tunnel>();

  constructor(
    private readonly stateDir: string,
    readonly accountTag: string,
  ) {}

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
    for (const file of await readdir(path.join(stateDir, 'tunnels'))) {
      if (!file.endsWith('.json')) continue;
      const text = await readFile(path.join(stateDir, 'tunnels', file), 'utf8');
      const creds = parseCredentialsFile(text);
      store.add({
        id: creds.tunnelId,
        name: file.slice(0, -'.json'.length),
        accountTag: creds.accountTag,
        secret: creds.tunnelSecret,
        createdAt: new Date().toISOString(),
      });
    }
    return store;
  }

  private add(t: Tunnel): void {
    this.byIdMap.set(t.id, t);
    this.byNameMap.set(t.name, t);
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
    const t: Tunnel = {
      id: randomUUID(),
      name,
      accountTag: this.accountTag,
      secret: randomBytes(32),
      createdAt: new Date().toISOString(),
    };
    const dir = path.join(this.stateDir, 'tunnels');
    await writeFile(path.join(dir, `${name}.json`), formatCredentialsFile(this.credentials(t)), {
      mode: 0o600,
    });
    await writeFile(path.join(dir, `${name}.token`), formatToken(this.credentials(t)) + '\n', {
      mode: 0o600,
    });
    this.add(t);
    return t;
  }
}
