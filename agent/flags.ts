/**
 * One description per flag: what parseArgs accepts, what --help prints and what buildConfig reads
 * (RawFlags) all come from this table, so a flag cannot be added in one place and forgotten in another.
 */
interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: true;
  readonly short?: string;
  /** the usage text's heading this flag sits under; absent: not in --help (test-only or an alias) */
  readonly group?: Group;
  /** the value's placeholder in --help, e.g. FILE */
  readonly arg?: string;
  /** --help's text; more lines after a newline */
  readonly help?: string;
}

type Group = 'Tunnel' | 'Cloudflare' | 'Origins' | 'Operations';

const GROUPS: Record<Group, string> = {
  Tunnel: 'Tunnel:',
  Cloudflare: 'Cloudflare (tunnel lifecycle and DNS; see docs/cloudflare.md):',
  Origins: 'Origins, one of:',
  Operations: 'Operations:',
};

export const FLAGS = {
  'credentials-file': {
    type: 'string',
    group: 'Tunnel',
    arg: 'FILE',
    help: 'cloudflared credentials file (or TUNNEL_CRED_FILE)',
  },
  /** cloudflared's other spelling */
  'cred-file': { type: 'string' },
  token: { type: 'string', group: 'Tunnel', arg: 'TOKEN', help: 'tunnel token (or TUNNEL_TOKEN)' },
  edge: {
    type: 'string',
    multiple: true,
    group: 'Tunnel',
    arg: 'HOST:PORT',
    help: 'edge address, repeatable (or TUNNEL_EDGE, comma-separated); without it\nthe edge is found through DNS (SRV _v2-origintunneld._tcp.argotunnel.com)',
  },
  region: {
    type: 'string',
    group: 'Tunnel',
    arg: 'NAME',
    help: "the edge's region service, e.g. us (or TUNNEL_REGION)",
  },
  'edge-ip-version': {
    type: 'string',
    group: 'Tunnel',
    arg: 'V',
    help: '4, 6 or auto (default auto; or TUNNEL_EDGE_IP_VERSION)',
  },
  'edge-bind-address': {
    type: 'string',
    group: 'Tunnel',
    arg: 'IP',
    help: 'the local address edge connections leave from (or TUNNEL_EDGE_BIND_ADDRESS)',
  },
  /** tests: the DNS server edge discovery asks */
  'edge-discovery-resolver': { type: 'string' },
  /** tests: the DNS-over-TLS server edge discovery falls back to */
  'edge-discovery-dot': { type: 'string' },
  'quic-recovery-interval': {
    type: 'string',
    group: 'Tunnel',
    arg: 'DURATION',
    help: 'auto, after falling back from QUIC: how often to check that QUIC\ngets through again, then move back to it (default 1m)',
  },
  cacert: {
    type: 'string',
    group: 'Tunnel',
    arg: 'FILE',
    help: "trust only this CA for the edge (or TUNNEL_CACERT); default:\nCloudflare's edge roots (shipped) and the public roots",
  },
  'no-tls-verify': {
    type: 'boolean',
    group: 'Tunnel',
    help: "do not verify the edge's certificate (logs a warning)",
  },
  protocol: {
    type: 'string',
    short: 'p',
    group: 'Tunnel',
    arg: 'P',
    help: 'quic, http2 or auto (default auto: HTTP/2, QUIC where TCP is blocked)',
  },
  'ha-connections': {
    type: 'string',
    group: 'Tunnel',
    arg: 'N',
    help: 'tunnel connections to keep (default 4)',
  },
  'grace-period': {
    type: 'string',
    group: 'Tunnel',
    arg: 'DURATION',
    help: 'how long in-flight requests may finish on SIGTERM (default 30s)',
  },
  'tunnel-name': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'NAME',
    help: 'find or create this tunnel instead of --token/--credentials-file',
  },
  'tunnel-credentials-secret': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'NAME',
    help: 'where replicas share its credentials (default tunnel-ingress-credentials)',
  },
  'cloudflare-api-token-file': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'FILE',
    help: 'API token (or CLOUDFLARE_API_TOKEN)',
  },
  'cloudflare-api-token-secret': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'NAME',
    help: 'a Secret in our namespace whose api-token key holds it',
  },
  'account-id': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'ID',
    help: 'Cloudflare account (or CLOUDFLARE_ACCOUNT_ID)',
  },
  'cloudflare-api-base-url': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'URL',
    help: 'default https://api.cloudflare.com/client/v4',
  },
  zone: {
    type: 'string',
    multiple: true,
    group: 'Cloudflare',
    arg: 'NAME',
    help: 'manage DNS only in this zone (repeatable; default: every zone the token sees)',
  },
  'dns-owner-id': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'ID',
    help: 'ownership id in the TXT records (default tunnel-ingress)',
  },
  'dns-policy': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'P',
    help: 'sync (default) or upsert-only (never delete)',
  },
  'dry-run': { type: 'boolean', group: 'Cloudflare', help: 'log DNS changes, make none' },
  'no-dns': { type: 'boolean', group: 'Cloudflare', help: 'no DNS automation even with a token' },
  'dns-resync': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'DURATION',
    help: 'full DNS resync period (default 1m)',
  },
  'cloudflare-api-limit': {
    type: 'string',
    group: 'Cloudflare',
    arg: 'N',
    help: 'API calls per 5 minutes (default 1000; Cloudflare allows 1200)',
  },
  url: {
    type: 'string',
    group: 'Origins',
    arg: 'URL',
    help: 'static mode: every request goes to this origin, e.g. http://127.0.0.1:8080\n(without --url: Kubernetes mode, routing by the Ingresses of our IngressClass)',
  },
  kubeconfig: {
    type: 'string',
    group: 'Origins',
    arg: 'FILE',
    help: 'Kubernetes credentials (default: KUBECONFIG, in-cluster, ~/.kube/config)',
  },
  'watch-namespace': {
    type: 'string',
    group: 'Origins',
    arg: 'NS',
    help: 'only this namespace (default: all)',
  },
  'ingress-class': {
    type: 'string',
    group: 'Origins',
    arg: 'NAME',
    help: 'our IngressClass (default cloudflare-tunnel; controller tunnel-ingress.dev/agent)',
  },
  'gateway-controller-name': {
    type: 'string',
    group: 'Origins',
    arg: 'NAME',
    help: 'the GatewayClass controllerName the agent serves (default tunnel-ingress.dev/gateway-controller); "off": no Gateway API',
  },
  'watch-ingress-without-class': {
    type: 'boolean',
    group: 'Origins',
    help: 'also serve Ingresses that name no class',
  },
  'leader-election-namespace': {
    type: 'string',
    group: 'Origins',
    arg: 'NS',
    help: 'where the Lease lives (default: POD_NAMESPACE or default)',
  },
  'leader-election-id': {
    type: 'string',
    group: 'Origins',
    arg: 'NAME',
    help: "the Lease's name (default tunnel-ingress-leader)",
  },
  metrics: {
    type: 'string',
    group: 'Operations',
    arg: 'HOST:PORT',
    help: 'admin endpoints /ready and /healthz (default 127.0.0.1:0)',
  },
  'log-level': {
    type: 'string',
    group: 'Operations',
    arg: 'LEVEL',
    help: 'trace, debug, info, warn, error (default info)',
  },
  'log-pretty': { type: 'boolean', group: 'Operations', help: 'human-readable logs' },
  'no-access-log': {
    type: 'boolean',
    group: 'Operations',
    help: 'no log line per request (metrics and /requests still count them)',
  },
  'admin-token-file': {
    type: 'string',
    group: 'Operations',
    arg: 'FILE',
    help: 'token for the dashboard and debug endpoints when --metrics is not loopback\n(or TUNNEL_ADMIN_TOKEN); without one they are off there. The dashboard: /dashboard',
  },
  'admin-host': {
    type: 'string',
    multiple: true,
    group: 'Operations',
    arg: 'NAME',
    help: 'a Host name the admin endpoints answer on a loopback address, besides\nlocalhost and loopback IPs (repeatable; anything else gets 403: DNS rebinding)',
  },
} as const satisfies Record<string, FlagSpec>;

type Flags = typeof FLAGS;

/** The command line as parsed: each flag's value, absent when not given. */
export type RawFlags = {
  -readonly [K in keyof Flags]?: Flags[K]['type'] extends 'boolean'
    ? boolean
    : Flags[K] extends { multiple: true }
      ? string[]
      : string;
};

/** The table as parseArgs options. */
export function parseArgsOptions(): Record<
  string,
  { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
> {
  const out: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(FLAGS) as Array<[string, FlagSpec]>) {
    out[name] = {
      type: spec.type,
      ...(spec.multiple === true ? { multiple: true } : {}),
      ...(spec.short === undefined ? {} : { short: spec.short }),
    };
  }
  return out;
}

const COLUMN = 28;

/** --help's text, from the table. */
export function usage(): string {
  const lines = ['tunnel-ingress: publish services through an outbound Cloudflare tunnel', ''];
  for (const group of Object.keys(GROUPS) as Group[]) {
    lines.push(GROUPS[group]);
    for (const [name, spec] of Object.entries(FLAGS) as Array<[string, FlagSpec]>) {
      if (spec.group !== group) continue;
      const head = `  --${name}${spec.arg === undefined ? '' : ` ${spec.arg}`}`;
      const [first = '', ...rest] = (spec.help ?? '').split('\n');
      if (head.length <= COLUMN - 2) lines.push(head.padEnd(COLUMN) + first);
      else lines.push(`${head}  ${first}`);
      for (const more of rest) lines.push(' '.repeat(COLUMN) + more);
    }
    lines.push('');
  }
  lines.push(
    `${'  --version'.padEnd(COLUMN)}print the version`,
    `${'  -h, --help'.padEnd(COLUMN)}this text`,
    '',
  );
  return lines.join('\n');
}
