import { TRAILERS_FEATURE } from '../../tunnel/quic/trailers-framing.js';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Logger } from 'pino';
import { uuidToBytes, type TunnelCredentials } from '../../tunnel/credentials.js';
import { defaultEdgeTrust } from '../../tunnel/edge-roots.js';
import { isTunnelError, meaningOf } from '../../tunnel/errors.js';
import { AgentHttp2Connection, RegistrationError } from '../../tunnel/http2/agent-connection.js';
import { AgentQuicConnection } from '../../tunnel/quic/agent-quic-connection.js';
import type { TunnelRequest } from '../../tunnel/responder.js';
import { bytesToUuid } from '../../tunnel/credentials.js';
import type { HostPort } from '../../common/net.js';
import { Backoff } from './backoff.js';

export interface SupervisorOptions {
  credentials: TunnelCredentials;
  /**
   * The edge's addresses by region: one region for --edge addresses, or the regions edge discovery
   * found. Connection i starts in region i mod n, so that connections spread over the regions.
   */
  regions: HostPort[][];
  /** Looks the regions up again (edge discovery); called after repeated dial failures. */
  rediscover?: () => Promise<HostPort[][]>;
  /** the local address edge connections leave from (--edge-bind-address) */
  localAddress?: string;
  ca?: Buffer;
  insecureSkipVerify?: boolean;
  haConnections: number;
  connectorId: string;
  version: string;
  log: Logger;
  onRequest(req: TunnelRequest): void;
  /** quic, http2, or auto: AUTO_ORDER[0] first, the other while the first cannot reach the edge at all */
  protocol: 'quic' | 'http2' | 'auto';
  /** auto: start with this one instead (Cloudflare's protocol record, edge-discovery.ts) */
  autoFirst?: 'quic' | 'http2';
  /** auto fell back from QUIC: how often to check whether QUIC gets through again (default 60 s) */
  quicRecoveryProbeMs?: number;
  /** Delay between starting connections after index 0 registered (cloudflared: 1 s). */
  staggerMs?: number;
  backoffBaseMs?: number;
  /** how a connection is made (default: the QUIC or HTTP/2 transport) */
  dial?: Dialer;
}

export interface ConnectionStatus {
  index: number;
  state: 'connecting' | 'registered' | 'backoff' | 'stopped';
  edge: string;
  connectionId: string | null;
  location: string | null;
  protocol: string;
  registeredAt: Date | null;
  lastError: string | null;
  reconnects: number;
}

/** TRAILERS_FEATURE: an edge that knows it may carry response trailers on QUIC (docs/protocol.md). */
const FEATURES = ['serialized_headers', TRAILERS_FEATURE];

/**
 * What auto tries first. cloudflared starts with QUIC; here HTTP/2 measured better end to end (more
 * requests per second, 3x the bulk rate, less agent CPU: docs/performance.md), so auto starts with
 * HTTP/2 and uses QUIC where TCP to the edge does not get through.
 */
export const AUTO_ORDER = ['http2', 'quic'] as const;

/**
 * The transport itself cannot get through (TUNNEL_ERRORS' `unusable`: UDP or TCP blocked, no
 * handshake, no registration in time). A certificate that does not verify (EDGE_CERTIFICATE) is not
 * one of these: the edge was reached, the other transport would meet the same certificate, and
 * falling back would hide it.
 */
function transportUnusable(err: unknown): boolean {
  return meaningOf(err)?.unusable === true;
}

/** Dial failures in a row on one connection before the edge is looked up again. */
const REDISCOVER_AFTER_FAILURES = 3;
const REDISCOVERY_INTERVAL_MS = 10_000;

/** The next dial goes to the next address (TUNNEL_ERRORS' `moveAddress`: unreachable, a duplicate, silence). */
function movesAddress(err: unknown): boolean {
  return meaningOf(err)?.moveAddress === true;
}

function goArch(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  return `${os.platform()}_${arch}`;
}

/** What the supervisor uses of a registered tunnel connection, whichever transport. */
export interface TunnelConnection {
  readonly protocol: string;
  readonly details: { uuid: Uint8Array; locationName: string } | null;
  once(event: 'close', listener: (err: Error | null) => void): unknown;
  unregister(timeoutMs: number): Promise<void>;
  drained(timeoutMs: number): Promise<void>;
  close(): void;
}

/** The dial options both transports take. */
export type DialOptions = Parameters<typeof AgentHttp2Connection.connect>[0];

/** Dials and registers one connection; tests give fakes, the agent the two transports. */
export type Dialer = (protocol: 'quic' | 'http2', opts: DialOptions) => Promise<TunnelConnection>;

const dialTransport: Dialer = (protocol, opts) =>
  protocol === 'quic' ? AgentQuicConnection.connect(opts) : AgentHttp2Connection.connect(opts);

/**
 * Keeps `haConnections` tunnel connections registered, as cloudflared's supervisor does: index 0
 * first, the others once it has registered, one a second; each reconnects on its own with full-jitter
 * backoff that resets after a successful registration.
 */
export class TunnelSupervisor extends EventEmitter<{
  change: [ConnectionStatus];
  failure: [string];
  reconnect: [number];
}> {
  readonly status: ConnectionStatus[];
  private readonly conns: Array<TunnelConnection | null>;
  /** the transport in use; auto starts with AUTO_ORDER[0] */
  protocol: 'quic' | 'http2';
  private everRegistered = false;
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private regions: HostPort[][];
  private lastRediscovery = 0;
  private rediscovering: Promise<void> | null = null;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.regions = opts.regions.filter((r) => r.length > 0);
    if (this.regions.length === 0) throw new Error('internal: no edge address');
    this.protocol = opts.protocol === 'auto' ? (opts.autoFirst ?? AUTO_ORDER[0]) : opts.protocol;
    this.status = Array.from({ length: opts.haConnections }, (_, index) => ({
      index,
      state: 'stopped' as const,
      edge: this.edgeFor(index),
      connectionId: null,
      location: null,
      protocol: this.protocol,
      registeredAt: null,
      lastError: null,
      reconnects: 0,
    }));
    this.conns = Array.from({ length: opts.haConnections }, () => null);
  }

  get readyConnections(): number {
    return this.status.filter((s) => s.state === 'registered').length;
  }

  private edgeFor(index: number): string {
    const e = this.addressFor(index, 0);
    return `${e.host}:${e.port}`;
  }

  /**
   * The address for connection `index` after `offset` moves: its home region's addresses (region
   * index mod n, starting at its own slot there), then the other regions', round and round.
   */
  private addressFor(index: number, offset: number): HostPort {
    const n = this.regions.length;
    const home = this.regions[index % n] as HostPort[];
    const start = Math.floor(index / n);
    const total = this.regions.reduce((sum, r) => sum + r.length, 0);
    let k = offset % total;
    if (k < home.length) return home[(start + k) % home.length] as HostPort;
    k -= home.length;
    for (let i = 1; i < n; i++) {
      const r = this.regions[(index + i) % n] as HostPort[];
      if (k < r.length) return r[(start + k) % r.length] as HostPort;
      k -= r.length;
    }
    return home[0] as HostPort;
  }

  /**
   * After repeated dial failures, the edge's records are looked up again (at most every 10 s, one
   * lookup at a time); a lookup that fails or finds fewer regions keeps the addresses in hand.
   */
  private rediscover(): Promise<void> {
    const find = this.opts.rediscover;
    if (find === undefined || Date.now() - this.lastRediscovery < REDISCOVERY_INTERVAL_MS)
      return Promise.resolve();
    this.rediscovering ??= (async () => {
      this.lastRediscovery = Date.now();
      try {
        const regions = (await find()).filter((r) => r.length > 0);
        if (regions.length === 0) return;
        this.regions = regions;
        this.opts.log.info(
          { regions: regions.map((r) => r.map((e) => `${e.host}:${e.port}`)) },
          'edge addresses looked up again',
        );
      } catch (err) {
        this.opts.log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'looking the edge up again failed; keeping the addresses in hand',
        );
      } finally {
        this.rediscovering = null;
      }
    })();
    return this.rediscovering;
  }

  start(): void {
    void this.runIndex(0, () => {
      for (let i = 1; i < this.opts.haConnections; i++) {
        const t = setTimeout(
          () => {
            this.timers.delete(t);
            if (!this.stopping) void this.runIndex(i);
          },
          i * (this.opts.staggerMs ?? 1000),
        );
        this.timers.add(t);
      }
    });
  }

  private update(index: number, patch: Partial<ConnectionStatus>): void {
    const s = this.status[index] as ConnectionStatus;
    Object.assign(s, patch);
    this.emit('change', s);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.timers.delete(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.timers.add(t);
      this.sleepers.add(done);
    });
  }

  private async runIndex(index: number, onFirstRegistration?: () => void): Promise<void> {
    const backoff = new Backoff(this.opts.backoffBaseMs ?? 1000);
    const { log, credentials } = this.opts;
    let first = onFirstRegistration;
    let dialFailures = 0;
    // An index keeps its edge address across reconnects and moves on to the next one after a dial
    // failure, a duplicate connection or a QUIC idle timeout (spec §2).
    let offset = 0;
    while (!this.stopping) {
      const edge = this.addressFor(index, offset);
      this.update(index, { state: 'connecting', edge: `${edge.host}:${edge.port}` });
      let conn: TunnelConnection;
      const protocol = this.protocol;
      this.update(index, { protocol });
      try {
        const dialOpts = {
          host: edge.host,
          port: edge.port,
          // Without --cacert: Cloudflare's edge roots and the public ones, as cloudflared trusts.
          ca: this.opts.ca ?? defaultEdgeTrust(),
          localAddress: this.opts.localAddress,
          insecureSkipVerify: this.opts.insecureSkipVerify,
          registration: {
            auth: { accountTag: credentials.accountTag, tunnelSecret: credentials.tunnelSecret },
            tunnelId: uuidToBytes(credentials.tunnelId),
            connIndex: index,
            options: {
              client: {
                clientId: uuidToBytes(this.opts.connectorId),
                features: FEATURES,
                version: this.opts.version,
                arch: goArch(),
              },
              originLocalIp: Buffer.alloc(0),
              replaceExisting: false,
              compressionQuality: 0,
              numPreviousAttempts: Math.min(backoff.attempts, 255),
            },
          },
          onRequest: this.opts.onRequest,
          onStreamError: this.onStreamError,
          onConfiguration: this.onConfiguration,
        };
        conn = await (this.opts.dial ?? dialTransport)(protocol, dialOpts);
      } catch (err) {
        this.maybeFallBack(protocol, err);
        this.emit('failure', isTunnelError(err) ? err.code : 'UNKNOWN');
        if (movesAddress(err)) {
          offset++;
          if (++dialFailures >= REDISCOVER_AFTER_FAILURES) {
            dialFailures = 0;
            await this.rediscover();
          }
        }
        const wait = backoff.next();
        const message = err instanceof Error ? err.message : String(err);
        const fields = {
          connIndex: index,
          edge: `${edge.host}:${edge.port}`,
          err: message,
          code: isTunnelError(err) ? err.code : undefined,
          retryInMs: wait,
        };
        if (isTunnelError(err, 'EDGE_CERTIFICATE')) {
          log.error(fields, "the edge's certificate did not verify: check --cacert; retrying");
        } else if (err instanceof RegistrationError && !err.shouldRetry && !err.duplicate) {
          log.error(fields, 'the edge refused this tunnel: check the credentials file or token; retrying');
        } else {
          log.warn(fields, 'tunnel connection failed; retrying');
        }
        this.update(index, { state: 'backoff', lastError: message, connectionId: null });
        if (this.stopping) break;
        await this.sleep(wait);
        continue;
      }
      if (this.stopping) {
        conn.close();
        break;
      }
      backoff.reset();
      dialFailures = 0;
      this.everRegistered = true;
      this.conns[index] = conn;
      const details = conn.details;
      const connectionId = details === null ? null : bytesToUuid(details.uuid);
      log.info(
        {
          connIndex: index,
          connection: connectionId,
          location: details?.locationName,
          protocol: conn.protocol,
          edge: `${edge.host}:${edge.port}`,
        },
        'Registered tunnel connection',
      );
      this.update(index, {
        state: 'registered',
        connectionId,
        location: details?.locationName ?? null,
        registeredAt: new Date(),
        lastError: null,
      });
      if (first !== undefined) {
        first();
        first = undefined;
      }
      const closeErr = await new Promise<Error | null>((resolve) => conn.once('close', resolve));
      this.conns[index] = null;
      if (movesAddress(closeErr)) offset++;
      if (!this.stopping) this.emit('reconnect', index);
      if (this.stopping) break;
      const wait = backoff.next();
      log.warn(
        { connIndex: index, err: closeErr?.message ?? 'closed by the edge', retryInMs: wait },
        'tunnel connection lost; reconnecting',
      );
      const s = this.status[index] as ConnectionStatus;
      this.update(index, {
        state: 'backoff',
        connectionId: null,
        lastError: closeErr?.message ?? 'closed',
        reconnects: s.reconnects + 1,
      });
      await this.sleep(wait);
    }
    this.update(index, { state: 'stopped', connectionId: null });
  }

  /** One stream refused or failed (the edge broke the protocol, a handler threw): that stream only. */
  private readonly onStreamError = (err: Error): void => {
    this.opts.log.warn(
      { err: err.message, code: isTunnelError(err) ? err.code : undefined },
      'tunnel stream refused',
    );
  };

  /**
   * A remotely managed tunnel's configuration pushed by the edge. Routes come from Kubernetes here, so
   * it is acknowledged (the edge then stops resending it) and logged, not applied.
   */
  private readonly onConfiguration = async (version: number, config: Buffer) => {
    this.opts.log.info(
      { version, bytes: config.length },
      'remote configuration received; ignored, routes come from Kubernetes or --url',
    );
    return { latestAppliedVersion: version, err: '' };
  };

  /**
   * auto: while no connection has ever registered, a transport that cannot reach the edge (UDP or TCP
   * blocked, no handshake, no registration in time) hands over to the other one for every connection.
   * Once one has registered, that transport stays, as cloudflared's fallback does; alternating before
   * then means an edge that was simply down at start is found again on either transport.
   */
  private maybeFallBack(protocol: 'quic' | 'http2', err: unknown): void {
    if (this.opts.protocol !== 'auto' || this.everRegistered || this.protocol !== protocol) return;
    if (!transportUnusable(err)) return;
    const next = protocol === 'quic' ? 'http2' : 'quic';
    this.protocol = next;
    this.opts.log.warn(
      { err: err instanceof Error ? err.message : String(err), from: protocol, to: next },
      `${protocol === 'quic' ? 'QUIC' : 'HTTP/2'} cannot reach the edge here; trying ${next === 'quic' ? 'QUIC' : 'HTTP/2'}`,
    );
    if (protocol === 'quic' && this.opts.autoFirst === 'quic') this.watchQuicRecovery();
  }

  /**
   * auto chose QUIC (Cloudflare's record) and fell back to HTTP/2 because QUIC could not get through.
   * cloudflared then stays on HTTP/2 for good (cloudflared#721); here a QUIC handshake with the edge
   * is tried every minute, and once one succeeds the connections move back to QUIC one at a time, each
   * unregistered and drained first, so no request is lost.
   */
  private watchQuicRecovery(): void {
    const every = this.opts.quicRecoveryProbeMs ?? 60_000;
    const probe = async (): Promise<void> => {
      if (this.stopping || this.protocol === 'quic') return;
      const edge = this.addressFor(0, 0);
      try {
        const { dialQuic } = await import('../../tunnel/quic/quic-endpoint.js');
        const conn = await dialQuic({
          host: edge.host,
          port: edge.port,
          ca: this.opts.ca ?? defaultEdgeTrust(),
          insecureSkipVerify: this.opts.insecureSkipVerify,
          localAddress: this.opts.localAddress,
          handshakeTimeoutMs: 5000,
        });
        conn.close();
      } catch {
        const t = setTimeout(() => void probe(), every);
        t.unref();
        this.timers.add(t);
        return;
      }
      if (this.stopping) return;
      this.protocol = 'quic';
      this.opts.log.info(
        { edge: `${edge.host}:${edge.port}` },
        'QUIC reaches the edge again; moving the connections back to QUIC',
      );
      for (let i = 0; i < this.conns.length && !this.stopping; i++) {
        const c = this.conns[i];
        if (c === null || c === undefined || c.protocol === 'quic') continue;
        await c.unregister(5000).catch(() => {});
        await c.drained(30_000);
        c.close();
        // the connection's loop dials again, now over QUIC; the next one moves once it is back
        await this.waitReplaced(i, c, 30_000);
      }
    };
    const t = setTimeout(() => void probe(), every);
    t.unref();
    this.timers.add(t);
  }

  /** Until connection `index` is registered again on a connection other than `old` (or `ms` pass). */
  private async waitReplaced(index: number, old: TunnelConnection, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopping && Date.now() < until) {
      const now = this.conns[index];
      if (now !== null && now !== undefined && now !== old) return;
      await this.sleep(100);
    }
  }

  /**
   * Graceful shutdown: unregister every connection so the edge sends nothing new, let streams in
   * flight finish within the grace period, then close.
   */
  async shutdown(gracePeriodMs: number): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    for (const wake of [...this.sleepers]) wake();
    const live = this.conns.filter((c): c is TunnelConnection => c !== null);
    await Promise.all(live.map((c) => c.unregister(Math.min(gracePeriodMs, 5000)).catch(() => {})));
    for (const s of this.status) if (s.state === 'registered') this.update(s.index, { state: 'stopped' });
    await Promise.all(live.map((c) => c.drained(gracePeriodMs)));
    for (const c of live) c.close();
  }
}
