import { TunnelError } from './errors.js';

/**
 * cloudflared's credentials file and token (spec §1). Parsing is strict about what matters (a UUID
 * tunnel id, a secret of at least 32 bytes in standard base64) and lenient about what cloudflared
 * ignores (key case, unknown keys).
 */
export interface TunnelCredentials {
  accountTag: string;
  /** raw secret bytes */
  tunnelSecret: Buffer;
  tunnelId: string;
  endpoint: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fail(message: string): never {
  throw new TunnelError('CREDENTIALS_INVALID', message, { source: 'internal' });
}

function decodeSecret(value: unknown, where: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) fail(`${where}: the tunnel secret is missing`);
  if (!BASE64_RE.test(value)) fail(`${where}: the tunnel secret is not standard base64`);
  const secret = Buffer.from(value, 'base64');
  if (secret.length < 32)
    fail(`${where}: the tunnel secret must decode to at least 32 bytes, got ${secret.length}`);
  return secret;
}

function checkTunnelId(value: unknown, where: string): string {
  if (typeof value !== 'string' || !UUID_RE.test(value)) fail(`${where}: the tunnel ID is not a UUID`);
  return value.toLowerCase();
}

function checkAccountTag(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(`${where}: the account tag is missing`);
  return value;
}

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail(`${where} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail(`${where} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Parses a credentials file's contents; keys are matched case-insensitively, as Go's JSON does. */
export function parseCredentialsFile(text: string, fallbackTunnelId?: string): TunnelCredentials {
  const where = 'credentials file';
  const raw = parseJsonObject(text, where);
  const byLower = new Map<string, unknown>();
  for (const [k, v] of Object.entries(raw)) byLower.set(k.toLowerCase(), v);
  const tunnelId = byLower.get('tunnelid') ?? fallbackTunnelId;
  return {
    accountTag: checkAccountTag(byLower.get('accounttag'), where),
    tunnelSecret: decodeSecret(byLower.get('tunnelsecret'), where),
    tunnelId: checkTunnelId(tunnelId, where),
    endpoint: typeof byLower.get('endpoint') === 'string' ? (byLower.get('endpoint') as string) : '',
  };
}

export function formatCredentialsFile(c: TunnelCredentials): string {
  return (
    JSON.stringify({
      AccountTag: c.accountTag,
      TunnelSecret: c.tunnelSecret.toString('base64'),
      TunnelID: c.tunnelId,
      ...(c.endpoint ? { Endpoint: c.endpoint } : {}),
    }) + '\n'
  );
}

/** Parses a token: standard base64 of {"a","s","t"} (and "e" on newer cloudflared). */
export function parseToken(token: string): TunnelCredentials {
  const where = 'tunnel token';
  const trimmed = token.trim();
  if (trimmed.length === 0 || !BASE64_RE.test(trimmed)) fail(`${where} is not standard base64`);
  const raw = parseJsonObject(Buffer.from(trimmed, 'base64').toString('utf8'), where);
  return {
    accountTag: checkAccountTag(raw.a, where),
    tunnelSecret: decodeSecret(raw.s, where),
    tunnelId: checkTunnelId(raw.t, where),
    endpoint: typeof raw.e === 'string' ? raw.e : '',
  };
}

export function formatToken(c: TunnelCredentials): string {
  const body: Record<string, string> = {
    a: c.accountTag,
    s: c.tunnelSecret.toString('base64'),
    t: c.tunnelId,
  };
  if (c.endpoint) body.e = c.endpoint;
  return Buffer.from(JSON.stringify(body)).toString('base64');
}

export function uuidToBytes(uuid: string): Buffer {
  if (!UUID_RE.test(uuid))
    throw new TunnelError('UUID_INVALID', `not a UUID: ${uuid}`, { source: 'internal' });
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export function bytesToUuid(bytes: Uint8Array): string {
  if (bytes.length !== 16)
    throw new TunnelError('UUID_INVALID', `a UUID has 16 bytes, got ${bytes.length}`, { source: 'internal' });
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
