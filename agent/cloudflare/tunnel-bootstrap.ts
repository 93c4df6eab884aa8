import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  formatCredentialsFile,
  parseCredentialsFile,
  parseToken,
  type TunnelCredentials,
} from '../../tunnel/credentials.js';
import { Backoff } from '../connect/backoff.js';
import type { CloudflareClient } from './cloudflare-client.js';
import { describe } from './dns-controller.js';

/**
 * `--tunnel-name NAME`: the tunnel found by name, or created with a random 32-byte secret, its
 * credentials kept in a Secret so every replica runs the same tunnel. Replicas starting together
 * converge: Cloudflare refuses a second tunnel of the same name (1013), so the loser finds the
 * winner's; and the first Secret written wins, the others read it.
 */
export interface CredentialsSecret {
  /** null when the Secret does not exist */
  read(): Promise<Record<string, string> | null>;
  /** false when it already exists */
  create(data: Record<string, string>): Promise<boolean>;
  replace(data: Record<string, string>): Promise<void>;
}

export interface BootstrapOptions {
  client: CloudflareClient;
  name: string;
  /** absent in static mode (no Kubernetes): the API is asked on every start */
  secret: CredentialsSecret | null;
  log: Logger;
  backoffBaseMs?: number;
  /** stop retrying (tests) */
  signal?: AbortSignal;
}

const CREDENTIALS_KEY = 'credentials.json';
const NAME_KEY = 'tunnel-name';

function fromSecret(data: Record<string, string> | null, name: string): TunnelCredentials | null {
  if (data === null || data[NAME_KEY] !== name || data[CREDENTIALS_KEY] === undefined) return null;
  try {
    return parseCredentialsFile(data[CREDENTIALS_KEY]);
  } catch {
    return null;
  }
}

function toSecret(c: TunnelCredentials, name: string): Record<string, string> {
  return { [CREDENTIALS_KEY]: formatCredentialsFile(c), [NAME_KEY]: name };
}

/** Retries with backoff until it has credentials: the agent cannot serve without a tunnel. */
export async function ensureTunnel(opts: BootstrapOptions): Promise<TunnelCredentials> {
  const backoff = new Backoff(opts.backoffBaseMs ?? 1000, 5);
  for (;;) {
    try {
      return await attempt(opts);
    } catch (err) {
      if (opts.signal?.aborted === true) throw err;
      const wait = Math.max(backoff.next(), 200);
      opts.log.warn(
        { tunnel: opts.name, err: describe(err), retryInMs: wait },
        'cannot set up the tunnel yet; retrying',
      );
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

async function attempt(opts: BootstrapOptions): Promise<TunnelCredentials> {
  const { client, name, secret, log } = opts;
  const stored = secret === null ? null : fromSecret(await secret.read(), name);
  if (stored !== null) {
    let live = true;
    try {
      live = await client.tunnelExists(stored.tunnelId);
    } catch (err) {
      // The API being down must not stop a replica that already has credentials.
      log.warn({ err: describe(err) }, 'cannot check the tunnel with the API; using the stored credentials');
    }
    if (live) {
      log.info({ tunnel: name, tunnelId: stored.tunnelId }, 'using the tunnel credentials from the Secret');
      return stored;
    }
    log.warn(
      { tunnel: name, tunnelId: stored.tunnelId },
      'the tunnel in the Secret was deleted; making a new one',
    );
  }
  const creds = await findOrCreate(client, name, log);
  if (secret === null) return creds;
  const data = toSecret(creds, name);
  if (stored !== null) {
    await secret.replace(data);
    return creds;
  }
  if (await secret.create(data)) {
    log.info({ tunnel: name }, 'tunnel credentials stored in the Secret');
    return creds;
  }
  // Another replica wrote it first: run what it wrote, so every replica runs one tunnel.
  const theirs = fromSecret(await secret.read(), name);
  if (theirs === null) {
    await secret.replace(data);
    return creds;
  }
  return theirs;
}

async function findOrCreate(client: CloudflareClient, name: string, log: Logger): Promise<TunnelCredentials> {
  let found = await client.findTunnel(name);
  if (found === null) {
    try {
      const made = await client.createTunnel(name, randomBytes(32));
      log.info({ tunnel: name, tunnelId: made.id }, 'tunnel created');
      found = made;
    } catch (err) {
      const codes = (err as { errors?: Array<{ code?: number }> }).errors?.map((e) => e.code) ?? [];
      if ((err as { status?: number }).status !== 409 && !codes.includes(1013)) throw err;
      found = await client.findTunnel(name); // created by another replica a moment ago
      if (found === null) throw err;
    }
  } else {
    log.info({ tunnel: name, tunnelId: found.id }, 'found the tunnel by name');
  }
  return parseToken(await client.tunnelToken(found.id));
}
