import { readFileSync } from 'node:fs';
import { parseCredentialsFile, parseToken, type TunnelCredentials } from '../tunnel/credentials.js';
import { TunnelError } from '../tunnel/errors.js';
import { parseHostPort, type HostPort } from '../common/net.js';

/**
 * Turns command-line flags and environment variables into a checked configuration, with one clear
 * error per problem. Flag names follow cloudflared's where the two overlap.
 */
export interface AgentConfig {
  credentials: TunnelCredentials;
  edges: HostPort[];
  ca: Buffer | undefined;
  insecureSkipVerify: boolean;
  protocol: 'quic' | 'http2' | 'auto';
  haConnections: number;
  /** static mode: every request goes here; absent: Kubernetes mode */
  url: URL | undefined;
  kube: KubeSettings;
  metrics: HostPort;
  gracePeriodMs: number;
  logLevel: string;
  logPretty: boolean;
  accessLog: boolean;
}

export interface KubeSettings {
  kubeconfig: string | undefined;
  watchNamespace: string | undefined;
  ingressClass: string;
  watchIngressWithoutClass: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
}

export interface RawFlags {
  kubeconfig?: string;
  'watch-namespace'?: string;
  'ingress-class'?: string;
  'watch-ingress-without-class'?: boolean;
  'leader-election-namespace'?: string;
  'leader-election-id'?: string;
  'credentials-file'?: string;
  token?: string;
  edge?: string[];
  cacert?: string;
  'no-tls-verify'?: boolean;
  protocol?: string;
  'ha-connections'?: string;
  url?: string;
  metrics?: string;
  'grace-period'?: string;
  'log-level'?: string;
  'log-pretty'?: boolean;
  'no-access-log'?: boolean;
}

function fail(message: string): never {
  throw new TunnelError('CONFIG_INVALID', message, { source: 'internal' });
}

/** Go-style durations ("30s", "1m30s", "500ms") or plain seconds. */
export function parseDuration(value: string, flag: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(re)) {
    const n = Number(m[1]);
    total += n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== value.length || consumed === 0)
    fail(`${flag} wants a duration such as 30s, got "${value}"`);
  return total;
}

function readFileOrFail(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    fail(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function buildConfig(flags: RawFlags, env: NodeJS.ProcessEnv): AgentConfig {
  const token = flags.token ?? env.TUNNEL_TOKEN;
  const credFile = flags['credentials-file'] ?? env.TUNNEL_CRED_FILE;
  let credentials: TunnelCredentials;
  if (token !== undefined && token !== '') {
    credentials = parseToken(token);
  } else if (credFile !== undefined) {
    credentials = parseCredentialsFile(readFileOrFail(credFile, 'credentials file'));
  } else {
    fail('no tunnel credentials: pass --credentials-file FILE or --token TOKEN (or set TUNNEL_TOKEN)');
  }
  const edgeFlags =
    flags.edge !== undefined && flags.edge.length > 0 ? flags.edge : env.TUNNEL_EDGE?.split(',');
  if (edgeFlags === undefined || edgeFlags.length === 0) {
    fail('no edge address: pass --edge HOST:PORT (DNS discovery of Cloudflare regions is not implemented)');
  }
  const edges = edgeFlags.map((e) => parseHostPort(e.trim(), '--edge'));
  const cacertPath = flags.cacert ?? env.TUNNEL_CACERT;
  const ca = cacertPath === undefined ? undefined : Buffer.from(readFileOrFail(cacertPath, 'CA file'));
  let protocol = flags.protocol ?? env.TUNNEL_TRANSPORT_PROTOCOL ?? 'auto';
  if (protocol === 'h2mux') protocol = 'http2'; // as cloudflared does
  if (protocol !== 'quic' && protocol !== 'http2' && protocol !== 'auto')
    fail(`--protocol must be quic, http2 or auto, got "${protocol}"`);
  const ha = Number(flags['ha-connections'] ?? '4');
  if (!Number.isInteger(ha) || ha < 1 || ha > 16) fail('--ha-connections wants a whole number from 1 to 16');
  const urlText = flags.url ?? env.TUNNEL_URL;
  let url: URL | undefined;
  if (urlText !== undefined) {
    try {
      url = new URL(urlText);
    } catch {
      fail(`--url is not a URL: "${urlText}"`);
    }
    if (url.protocol !== 'http:') fail(`--url must be http:// for now, got ${url.protocol}`);
  }
  const ingressClass = flags['ingress-class'] ?? 'cloudflare-tunnel';
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(ingressClass))
    fail(`--ingress-class "${ingressClass}" is not a valid object name`);
  const gracePeriodMs = parseDuration(
    flags['grace-period'] ?? env.TUNNEL_GRACE_PERIOD ?? '30s',
    '--grace-period',
  );
  if (gracePeriodMs > 180_000) fail('--grace-period is at most 3m, as in cloudflared');
  return {
    credentials,
    edges,
    ca,
    insecureSkipVerify: flags['no-tls-verify'] === true,
    protocol: protocol as AgentConfig['protocol'],
    haConnections: ha,
    url,
    kube: {
      kubeconfig: flags.kubeconfig ?? env.KUBECONFIG,
      watchNamespace: flags['watch-namespace'],
      ingressClass,
      watchIngressWithoutClass: flags['watch-ingress-without-class'] === true,
      leaderElectionNamespace: flags['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'default',
      leaderElectionId: flags['leader-election-id'] ?? 'tunnel-ingress-leader',
    },
    metrics: parseHostPort(flags.metrics ?? env.TUNNEL_METRICS ?? '127.0.0.1:0', '--metrics', true),
    gracePeriodMs,
    logLevel: flags['log-level'] ?? env.LOG_LEVEL ?? 'info',
    logPretty: flags['log-pretty'] === true,
    accessLog: flags['no-access-log'] !== true,
  };
}
