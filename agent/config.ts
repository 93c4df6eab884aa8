import { isIP } from 'node:net';
import type { DiscoveryOptions } from './connect/edge-discovery.js';
import { readFileSync } from 'node:fs';
import { parseCredentialsFile, parseToken, type TunnelCredentials } from '../tunnel/credentials.js';
import { ConfigError } from '../common/errors.js';
import { durationMs } from '../common/duration.js';
import { parseHostPort, type HostPort } from '../common/net.js';
import type { RawFlags } from './flags.js';

/**
 * Turns command-line flags and environment variables into a checked configuration, with one clear
 * error per problem. Flag names follow cloudflared's where the two overlap.
 */
export interface AgentConfig {
  tunnel: TunnelSource;
  cloudflare: CloudflareSettings;
  /** --edge addresses; empty: find the edge with DNS (edge-discovery.ts) */
  edges: HostPort[];
  discovery: DiscoveryOptions;
  /** --edge-bind-address */
  edgeBindAddress: string | undefined;
  /** --quic-recovery-interval: auto's check that QUIC gets through again after falling back */
  quicRecoveryMs: number;
  ca: Buffer | undefined;
  insecureSkipVerify: boolean;
  protocol: 'quic' | 'http2' | 'auto';
  haConnections: number;
  origins: Origins;
  /** the agent's own namespace (Secrets it reads, the Lease): POD_NAMESPACE or default */
  ownNamespace: string;
  metrics: HostPort;
  gracePeriodMs: number;
  logLevel: string;
  logPretty: boolean;
  accessLog: boolean;
  /** for the dashboard and debug endpoints when --metrics is not a loopback address; never logged */
  adminToken: string | undefined;
  /** Host names the admin endpoints answer on a loopback address besides loopback ones (DNS rebinding) */
  adminHosts: string[];
}

/** The tunnel: credentials given (a token or a credentials file), or a name to find or create. */
export type TunnelSource =
  { kind: 'credentials'; credentials: TunnelCredentials } | { kind: 'named'; name: string };

/** Where requests go: one static origin (`--url`), or the Ingresses of a Kubernetes cluster. */
export type Origins = { mode: 'static'; url: URL } | { mode: 'kubernetes'; kube: KubeSettings };

export interface CloudflareSettings {
  /** from --cloudflare-api-token-file or CLOUDFLARE_API_TOKEN; never logged */
  apiToken: string | undefined;
  /** a Secret in the agent's namespace whose `api-token` key holds the token (Kubernetes mode) */
  apiTokenSecret: string | undefined;
  accountId: string | undefined;
  baseURL: string;
  credentialsSecret: string;
  zones: string[];
  dns: boolean;
  dnsOwnerId: string;
  dnsPolicy: 'sync' | 'upsert-only';
  dryRun: boolean;
  dnsResyncMs: number;
  /** API calls per five minutes */
  apiLimit: number;
}

export interface KubeSettings {
  kubeconfig: string | undefined;
  watchNamespace: string | undefined;
  ingressClass: string;
  watchIngressWithoutClass: boolean;
  leaderElectionId: string;
  /** the GatewayClass controllerName to serve; null: the Gateway API is off */
  gatewayController: string | null;
}

function fail(message: string): never {
  throw new ConfigError('CONFIG_INVALID', message);
}

/** Go-style durations ("30s", "1m30s", "500ms") or plain seconds. */
export function parseDuration(value: string, flag: string): number {
  const ms = durationMs(value);
  if (ms === null) fail(`${flag} wants a duration such as 30s, got "${value}"`);
  return ms;
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
  const credFile = flags['credentials-file'] ?? flags['cred-file'] ?? env.TUNNEL_CRED_FILE;
  const cloudflare = buildCloudflare(flags, env);
  const tunnelName = flags['tunnel-name'] ?? env.TUNNEL_NAME;
  if (tunnelName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(tunnelName))
    fail(`--tunnel-name "${tunnelName}": 1 to 64 letters, digits, spaces, dots, dashes or underscores`);
  let tunnel: TunnelSource;
  if (tunnelName !== undefined) {
    if ((token !== undefined && token !== '') || credFile !== undefined)
      fail('--tunnel-name finds or creates the tunnel: drop --token and --credentials-file');
    if (cloudflare.apiToken === undefined && cloudflare.apiTokenSecret === undefined)
      fail(
        '--tunnel-name needs a Cloudflare API token: --cloudflare-api-token-file, CLOUDFLARE_API_TOKEN or --cloudflare-api-token-secret',
      );
    if (cloudflare.accountId === undefined)
      fail('--tunnel-name needs --account-id (or CLOUDFLARE_ACCOUNT_ID)');
    tunnel = { kind: 'named', name: tunnelName };
  } else if (token !== undefined && token !== '') {
    tunnel = { kind: 'credentials', credentials: parseToken(token) };
  } else if (credFile !== undefined) {
    tunnel = {
      kind: 'credentials',
      credentials: parseCredentialsFile(readFileOrFail(credFile, 'credentials file')),
    };
  } else {
    fail(
      'no tunnel credentials: pass --credentials-file FILE or --token TOKEN (or set TUNNEL_TOKEN), or --tunnel-name NAME with a Cloudflare API token',
    );
  }
  const edgeFlags =
    flags.edge !== undefined && flags.edge.length > 0 ? flags.edge : env.TUNNEL_EDGE?.split(',');
  // Without --edge the edge is found through DNS at start, as cloudflared finds it.
  const edges = (edgeFlags ?? [])
    .filter((e) => e.trim() !== '')
    .map((e) => parseHostPort(e.trim(), '--edge'));
  const region = flags.region ?? env.TUNNEL_REGION ?? '';
  if (region !== '' && !/^[a-z0-9]+$/.test(region))
    fail(`--region wants a region name such as "us", got "${region}"`);
  const ipVersion = flags['edge-ip-version'] ?? env.TUNNEL_EDGE_IP_VERSION ?? 'auto';
  if (ipVersion !== 'auto' && ipVersion !== '4' && ipVersion !== '6')
    fail(`--edge-ip-version must be 4, 6 or auto, got "${ipVersion}"`);
  const bind = flags['edge-bind-address'] ?? env.TUNNEL_EDGE_BIND_ADDRESS;
  if (bind !== undefined && isIP(bind) === 0) fail(`--edge-bind-address wants an IP address, got "${bind}"`);
  const resolverFlag = flags['edge-discovery-resolver'];
  const dotFlag = flags['edge-discovery-dot'];
  const discovery: DiscoveryOptions = {
    region,
    ipVersion,
    ...(resolverFlag === undefined
      ? {}
      : { resolver: parseHostPort(resolverFlag, '--edge-discovery-resolver') }),
    ...(dotFlag === undefined
      ? {}
      : { dot: { ...parseHostPort(dotFlag, '--edge-discovery-dot'), servername: 'cloudflare-dns.com' } }),
  };
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
  const gatewayFlag = flags['gateway-controller-name'] ?? 'tunnel-ingress.dev/gateway-controller';
  // The API's own pattern for a GatewayClass controllerName: a domain-prefixed path.
  if (
    gatewayFlag !== 'off' &&
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(
      gatewayFlag,
    )
  )
    fail(
      `--gateway-controller-name "${gatewayFlag}" is not a domain-prefixed path (example.com/controller) or "off"`,
    );
  const gracePeriodMs = parseDuration(
    flags['grace-period'] ?? env.TUNNEL_GRACE_PERIOD ?? '30s',
    '--grace-period',
  );
  if (gracePeriodMs > 180_000) fail('--grace-period is at most 3m, as in cloudflared');
  const kube: KubeSettings = {
    kubeconfig: flags.kubeconfig ?? env.KUBECONFIG,
    watchNamespace: flags['watch-namespace'],
    ingressClass,
    watchIngressWithoutClass: flags['watch-ingress-without-class'] === true,
    leaderElectionId: flags['leader-election-id'] ?? 'tunnel-ingress-leader',
    gatewayController: gatewayFlag === 'off' ? null : gatewayFlag,
  };
  const ownNamespace = flags['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'default';
  if (url !== undefined && cloudflare.apiTokenSecret !== undefined)
    fail('--cloudflare-api-token-secret needs Kubernetes mode (it is read from a Secret): drop --url');
  return {
    tunnel,
    cloudflare,
    edges,
    discovery,
    edgeBindAddress: bind,
    quicRecoveryMs: parseDuration(flags['quic-recovery-interval'] ?? '1m', '--quic-recovery-interval'),
    ca,
    insecureSkipVerify: flags['no-tls-verify'] === true,
    protocol: protocol as AgentConfig['protocol'],
    haConnections: ha,
    origins: url === undefined ? { mode: 'kubernetes', kube } : { mode: 'static', url },
    ownNamespace,
    metrics: parseHostPort(flags.metrics ?? env.TUNNEL_METRICS ?? '127.0.0.1:0', '--metrics', true),
    gracePeriodMs,
    logLevel: flags['log-level'] ?? env.LOG_LEVEL ?? 'info',
    logPretty: flags['log-pretty'] === true,
    accessLog: flags['no-access-log'] !== true,
    adminToken: adminToken(flags, env),
    adminHosts: (flags['admin-host'] ?? []).map((h) => h.trim().toLowerCase()),
  };
}

function buildCloudflare(flags: RawFlags, env: NodeJS.ProcessEnv): CloudflareSettings {
  const tokenFile = flags['cloudflare-api-token-file'] ?? env.CLOUDFLARE_API_TOKEN_FILE;
  let apiToken: string | undefined;
  if (tokenFile !== undefined) {
    apiToken = readFileOrFail(tokenFile, 'Cloudflare API token file').trim();
    if (apiToken === '') fail(`the Cloudflare API token file ${tokenFile} is empty`);
  } else if (env.CLOUDFLARE_API_TOKEN !== undefined && env.CLOUDFLARE_API_TOKEN !== '') {
    apiToken = env.CLOUDFLARE_API_TOKEN.trim();
  }
  const policy = flags['dns-policy'] ?? 'sync';
  if (policy !== 'sync' && policy !== 'upsert-only')
    fail(`--dns-policy must be sync or upsert-only, got "${policy}"`);
  const owner = flags['dns-owner-id'] ?? env.DNS_OWNER_ID ?? 'tunnel-ingress';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(owner))
    fail(
      `--dns-owner-id "${owner}": letters, digits, dots, dashes and underscores only (it goes into TXT records)`,
    );
  const limit = Number(flags['cloudflare-api-limit'] ?? '1000');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1200)
    fail('--cloudflare-api-limit wants a whole number of calls per 5 minutes, 1 to 1200');
  const baseURL =
    flags['cloudflare-api-base-url'] ?? env.CLOUDFLARE_API_BASE_URL ?? 'https://api.cloudflare.com/client/v4';
  try {
    new URL(baseURL);
  } catch {
    fail(`--cloudflare-api-base-url is not a URL: "${baseURL}"`);
  }
  const zones = (flags.zone ?? []).map((z) => z.trim().toLowerCase().replace(/\.$/, ''));
  for (const z of zones) if (!/^[a-z0-9.-]+\.[a-z0-9-]+$/.test(z)) fail(`--zone "${z}" is not a domain name`);
  return {
    apiToken,
    apiTokenSecret: flags['cloudflare-api-token-secret'],
    accountId: flags['account-id'] ?? env.CLOUDFLARE_ACCOUNT_ID,
    baseURL,
    credentialsSecret: flags['tunnel-credentials-secret'] ?? 'tunnel-ingress-credentials',
    zones,
    dns: flags['no-dns'] !== true,
    dnsOwnerId: owner,
    dnsPolicy: policy,
    dryRun: flags['dry-run'] === true,
    dnsResyncMs: parseDuration(flags['dns-resync'] ?? '1m', '--dns-resync'),
    apiLimit: limit,
  };
}

function adminToken(flags: RawFlags, env: NodeJS.ProcessEnv): string | undefined {
  const file = flags['admin-token-file'] ?? env.TUNNEL_ADMIN_TOKEN_FILE;
  const token = file === undefined ? env.TUNNEL_ADMIN_TOKEN : readFileOrFail(file, 'admin token file').trim();
  if (token === undefined || token === '') return undefined;
  if (token.length < 16) fail('the admin token must be at least 16 characters');
  return token;
}
