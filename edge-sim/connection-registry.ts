import type { OutgoingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';

/** A request stream on either transport: HTTP/2 client streams and QUIC streams both fit. */
export type EdgeStream = Duplex & { close(code?: number): void; readonly rstCode?: number | undefined };

export interface TunnelLink {
  request(headers: OutgoingHttpHeaders, endStream: boolean): EdgeStream;
  close(): void;
  readonly isClosed: boolean;
  /** QUIC: nothing heard from the connector for a while */
  readonly isSilent?: boolean;
  /** UpdateConfiguration, for remotely managed tunnels */
  pushConfiguration(version: number, config: unknown): Promise<unknown>;
}

export interface EdgeConnection {
  id: string;
  tunnelId: string;
  connIndex: number;
  clientId: string;
  clientVersion: string;
  clientArch: string;
  features: string[];
  protocol: string;
  location: string;
  remoteAddress: string;
  openedAt: Date;
  draining: boolean;
  inflight: number;
  link: TunnelLink;
}

/**
 * How long after its last stream a drained connection is closed: time for the answer to the
 * unregister call to leave first (closing destroys what is not yet written).
 */
export const DRAINED_CLOSE_DELAY_MS = 100;

function closeDrained(conn: EdgeConnection): void {
  setTimeout(() => {
    if (conn.inflight === 0 && !conn.link.isClosed) conn.link.close();
  }, DRAINED_CLOSE_DELAY_MS).unref();
}

/**
 * Registered connector connections, per tunnel. New visitor streams go to the registered, non-draining
 * connection with the fewest streams in flight.
 */
export class ConnectionRegistry {
  private readonly byTunnel = new Map<string, EdgeConnection[]>();
  private readonly byId = new Map<string, EdgeConnection>();
  /** when each tunnel last had a connection, for the API's status and conns_inactive_at */
  private readonly lastActiveAt = new Map<string, Date>();

  /** Adds a connection, replacing (and closing) one from the same connector with the same index. */
  register(conn: EdgeConnection): EdgeConnection | null {
    const list = this.byTunnel.get(conn.tunnelId) ?? [];
    const dupAt = list.findIndex((c) => c.clientId === conn.clientId && c.connIndex === conn.connIndex);
    let replaced: EdgeConnection | null = null;
    if (dupAt >= 0) {
      replaced = list[dupAt] as EdgeConnection;
      list.splice(dupAt, 1);
      this.byId.delete(replaced.id);
    }
    list.push(conn);
    this.byTunnel.set(conn.tunnelId, list);
    this.byId.set(conn.id, conn);
    if (replaced !== null) replaced.link.close();
    return replaced;
  }

  remove(conn: EdgeConnection): void {
    if (this.byId.get(conn.id) !== conn) return;
    this.byId.delete(conn.id);
    const list = this.byTunnel.get(conn.tunnelId);
    if (list === undefined) return;
    const at = list.indexOf(conn);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) {
      this.byTunnel.delete(conn.tunnelId);
      this.lastActiveAt.set(conn.tunnelId, new Date());
    }
  }

  /**
   * The connector unregistered `conn`: no new streams go to it, and once the streams in flight on it
   * have finished the edge closes it, as Cloudflare's edge does (a connector then ends its graceful
   * shutdown at once instead of waiting out its grace period).
   */
  drain(conn: EdgeConnection): void {
    conn.draining = true;
    if (conn.inflight === 0) closeDrained(conn);
  }

  /** A stream on `conn` finished. */
  release(conn: EdgeConnection): void {
    conn.inflight--;
    if (conn.draining && conn.inflight === 0) closeDrained(conn);
  }

  /** Null for a tunnel that never had a connection (or has one now and never lost all). */
  lastActive(tunnelId: string): Date | null {
    return this.lastActiveAt.get(tunnelId) ?? null;
  }

  get(id: string): EdgeConnection | undefined {
    return this.byId.get(id);
  }

  forTunnel(tunnelId: string): readonly EdgeConnection[] {
    return this.byTunnel.get(tunnelId) ?? [];
  }

  /** The least-loaded connection that takes new streams, or null. */
  pick(tunnelId: string): EdgeConnection | null {
    const list = this.byTunnel.get(tunnelId);
    if (list === undefined) return null;
    let best: EdgeConnection | null = null;
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as EdgeConnection;
      if (c.draining || c.link.isClosed || c.link.isSilent === true) continue;
      if (best === null || c.inflight < best.inflight) best = c;
    }
    return best;
  }
}
