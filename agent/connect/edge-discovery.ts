import { promises as dns } from 'node:dns';
import tls from 'node:tls';
import dnsPacket from 'dns-packet';
import type { HostPort } from '../../common/net.js';

/**
 * Finding Cloudflare's edge the way cloudflared does (its edgediscovery/allregions): the SRV record
 * `_v2-origintunneld._tcp.argotunnel.com` (`_<region>-v2-origintunneld…` with --region) names one
 * target per region; each target's addresses are that region's edge addresses, on the SRV port
 * (7844). At least two regions are needed. When the system resolver cannot answer the SRV query, the
 * query goes again over DNS over TLS to 1.1.1.1:853 (`cloudflare-dns.com`, 15 s), as cloudflared's
 * fallback for resolvers that mangle SRV answers; the targets' addresses come from the system resolver.
 */
export type EdgeIpVersion = 'auto' | '4' | '6';

export interface DiscoveryOptions {
  /** cloudflared's --region: '' for the global service, e.g. 'us' */
  region: string;
  ipVersion: EdgeIpVersion;
  /** a DNS server instead of the system's (tests: a local one serving edge-sim's regions) */
  resolver?: HostPort;
  /** the DNS-over-TLS fallback (default 1.1.1.1:853, cloudflare-dns.com) */
  dot?: { host: string; port: number; servername: string };
}

export const SRV_DOMAIN = 'argotunnel.com';
const DOT_DEFAULT = { host: '1.1.1.1', port: 853, servername: 'cloudflare-dns.com' };
const DOT_TIMEOUT_MS = 15_000;

export class EdgeDiscoveryError extends Error {
  override readonly name = 'EdgeDiscoveryError';
}

/** The SRV name for a region, as cloudflared's RegionalServiceName builds it. */
export function srvName(region: string): string {
  return `_${region === '' ? '' : `${region}-`}v2-origintunneld._tcp.${SRV_DOMAIN}`;
}

interface Srv {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

function resolverFor(opts: DiscoveryOptions): dns.Resolver {
  const r = new dns.Resolver({ timeout: 5000, tries: 2 });
  if (opts.resolver !== undefined) r.setServers([`${opts.resolver.host}:${opts.resolver.port}`]);
  return r;
}

/** Regions of edge addresses: [region1, region2, …], each in the order to try them. */
export async function discoverEdge(opts: DiscoveryOptions): Promise<HostPort[][]> {
  const name = srvName(opts.region);
  const resolver = resolverFor(opts);
  let records: Srv[];
  try {
    records = await resolver.resolveSrv(name);
  } catch (err) {
    try {
      records = await lookupSrvOverTls(name, opts.dot ?? DOT_DEFAULT);
    } catch {
      // cloudflared reports the system resolver's error, not the fallback's
      throw new EdgeDiscoveryError(
        `cannot look up the edge's SRV record ${name}: ${(err as Error).message}. Check that this ` +
          `machine's DNS resolver answers SRV queries (dig srv ${name}), or give --edge HOST:PORT`,
      );
    }
  }
  records.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
  const regions: HostPort[][] = [];
  for (const srv of records) regions.push(await addressesOf(resolver, srv, opts.ipVersion));
  if (regions.length < 2)
    throw new EdgeDiscoveryError(
      `expected at least 2 Cloudflare regions, but the SRV record ${name} named ${regions.length}`,
    );
  return regions;
}

/** A target's addresses on its port; for `auto`, the family the resolver answered first comes first. */
async function addressesOf(resolver: dns.Resolver, srv: Srv, v: EdgeIpVersion): Promise<HostPort[]> {
  const [v4, v6] = await Promise.all([
    v === '6' ? [] : resolver.resolve4(srv.name).catch(() => [] as string[]),
    v === '4' ? [] : resolver.resolve6(srv.name).catch(() => [] as string[]),
  ]);
  const ips = [...v4, ...v6];
  if (ips.length === 0)
    throw new EdgeDiscoveryError(
      `the edge's SRV target ${srv.name} has no ${v === 'auto' ? '' : `IPv${v} `}address`,
    );
  return ips.map((host) => ({ host, port: srv.port }));
}

/** One SRV query over DNS over TLS (RFC 7858: TCP framing, a two-byte length before each message). */
function lookupSrvOverTls(
  name: string,
  dot: { host: string; port: number; servername: string },
): Promise<Srv[]> {
  return new Promise((resolve, reject) => {
    const id = Math.floor(Math.random() * 65535);
    const query = dnsPacket.streamEncode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'SRV', name }],
    });
    const socket = tls.connect({ host: dot.host, port: dot.port, servername: dot.servername });
    const timer = setTimeout(() => socket.destroy(new Error('DNS over TLS timed out')), DOT_TIMEOUT_MS);
    let buf = Buffer.alloc(0);
    const done = (err: Error | null, out?: Srv[]) => {
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) reject(err);
      else resolve(out as Srv[]);
    };
    socket.on('secureConnect', () => socket.write(query));
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error('DNS over TLS: connection closed before an answer')));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      let answer: dnsPacket.Packet;
      try {
        answer = dnsPacket.streamDecode(buf);
      } catch (err) {
        done(err as Error);
        return;
      }
      if (answer.id !== id) return done(new Error('DNS over TLS: an answer to another query'));
      const srvs: Srv[] = [];
      for (const a of answer.answers ?? []) {
        if (a.type !== 'SRV') continue;
        const d = a.data as { target: string; port: number; priority?: number; weight?: number };
        srvs.push({ name: d.target, port: d.port, priority: d.priority ?? 0, weight: d.weight ?? 0 });
      }
      if (srvs.length === 0) done(new Error(`DNS over TLS: no SRV answer for ${name}`));
      else done(null, srvs);
    });
  });
}

/** The TXT record cloudflared reads to choose a transport for `--protocol auto`. */
export const PROTOCOL_RECORD = 'protocol-v2.argotunnel.com';

/**
 * The transport `auto` starts with where Cloudflare publishes its rollout, decided as cloudflared
 * decides it (connection/protocol.go): the record holds `[{"protocol":"quic","percentage":N}, …]`;
 * the account's threshold is FNV-1a-32 of its account tag mod 100; the first of quic, http2 whose
 * percentage exceeds it wins, else quic. Null where the record cannot be read (then the agent keeps its
 * measured choice).
 */
export async function protocolFromRecord(
  accountTag: string,
  opts: Pick<DiscoveryOptions, 'resolver'>,
): Promise<'quic' | 'http2' | null> {
  let records: string[][];
  try {
    records = await resolverFor({ region: '', ipVersion: 'auto', ...opts }).resolveTxt(PROTOCOL_RECORD);
  } catch {
    return null;
  }
  const first = records[0];
  if (first === undefined) return null;
  let percents: Array<{ protocol?: unknown; percentage?: unknown }>;
  try {
    percents = JSON.parse(first.join('')) as typeof percents;
    if (!Array.isArray(percents)) return null;
  } catch {
    return null;
  }
  const threshold = fnv1a32(accountTag) % 100;
  for (const p of ['quic', 'http2'] as const) {
    const entry = percents.find((x) => String(x.protocol).toLowerCase() === p);
    if (typeof entry?.percentage === 'number' && entry.percentage > threshold) return p;
  }
  return 'quic';
}

/** FNV-1a, 32 bits (Go's hash/fnv New32a). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
