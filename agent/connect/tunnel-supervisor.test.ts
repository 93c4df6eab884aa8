import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { RegistrationError } from '../../tunnel/connector-session.js';
import { TunnelError } from '../../tunnel/errors.js';
import type { HostPort } from '../../common/net.js';
import {
  TunnelSupervisor,
  type DialOptions,
  type Dialer,
  type TunnelConnection,
} from './tunnel-supervisor.js';

/**
 * The supervisor in process, over fake transports: which transport and which address each dial
 * gets, given what the previous dials answered. No sockets: a fake dial answers at once.
 */
class FakeConnection extends EventEmitter implements TunnelConnection {
  readonly details = { uuid: new Uint8Array(16), locationName: 'test' };
  unregistered = false;
  closed = false;
  constructor(readonly protocol: string) {
    super();
  }
  unregister(): Promise<void> {
    this.unregistered = true;
    return Promise.resolve();
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', null);
  }
}

interface Dial {
  protocol: 'quic' | 'http2';
  edge: string;
  index: number;
}

/** A dialer that answers each dial with the next scripted outcome (an error, or success). */
function scriptedDialer(script: (d: Dial, n: number) => Error | null) {
  const dials: Dial[] = [];
  const conns: FakeConnection[] = [];
  const dial: Dialer = (protocol, opts: DialOptions) => {
    const d = { protocol, edge: `${opts.host}:${opts.port}`, index: opts.registration.connIndex };
    dials.push(d);
    const err = script(d, dials.length - 1);
    if (err !== null) return Promise.reject(err);
    const c = new FakeConnection(protocol);
    conns.push(c);
    return Promise.resolve(c);
  };
  return { dial, dials, conns };
}

const edges = (...ports: number[]): HostPort[] => ports.map((port) => ({ host: '192.0.2.1', port }));

function supervisor(
  dial: Dialer,
  o: {
    protocol?: 'quic' | 'http2' | 'auto';
    autoFirst?: 'quic' | 'http2';
    regions?: HostPort[][];
    ha?: number;
  },
) {
  return new TunnelSupervisor({
    credentials: {
      accountTag: 'acct',
      tunnelSecret: Buffer.alloc(32),
      tunnelId: '00000000-0000-4000-8000-000000000001',
      endpoint: '',
    },
    regions: o.regions ?? [edges(7001, 7002)],
    haConnections: o.ha ?? 1,
    connectorId: '00000000-0000-4000-8000-000000000002',
    version: 'test',
    log: pino({ level: 'silent' }),
    onRequest: () => {},
    protocol: o.protocol ?? 'auto',
    ...(o.autoFirst === undefined ? {} : { autoFirst: o.autoFirst }),
    staggerMs: 1,
    backoffBaseMs: 1,
    dial,
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const quicBlocked = () => new TunnelError('QUIC_HANDSHAKE_TIMEOUT', 'no handshake', { source: 'edge' });
const dialFailed = () => new TunnelError('EDGE_DIAL_FAILED', 'refused', { source: 'edge' });
const badCert = () => new TunnelError('EDGE_CERTIFICATE', 'unknown CA', { source: 'edge' });

describe('tunnel supervisor (fake transports)', () => {
  it('auto falls back from a QUIC that cannot get through to HTTP/2, for every connection', async () => {
    const f = scriptedDialer((d) => (d.protocol === 'quic' ? quicBlocked() : null));
    const sup = supervisor(f.dial, { autoFirst: 'quic', ha: 2 });
    sup.start();
    await until(() => sup.readyConnections === 2, 'two connections');
    expect(f.dials[0]?.protocol).toBe('quic');
    expect(sup.protocol).toBe('http2');
    expect(f.conns.map((c) => c.protocol)).toEqual(['http2', 'http2']);
    await sup.shutdown(100);
  });

  it('does not fall back on a certificate that does not verify: the other transport would meet it too', async () => {
    const f = scriptedDialer((d, n) => (n < 3 ? badCert() : d.protocol === 'http2' ? null : quicBlocked()));
    const sup = supervisor(f.dial, { autoFirst: 'http2' });
    sup.start();
    await until(() => sup.readyConnections === 1, 'a connection');
    expect(f.dials.slice(0, 4).map((d) => d.protocol)).toEqual(['http2', 'http2', 'http2', 'http2']);
    await sup.shutdown(100);
  });

  it('moves a connection to the next address after a failed dial or a duplicate, not after a refusal', async () => {
    const f = scriptedDialer((_d, n) =>
      n === 0
        ? dialFailed()
        : n === 1
          ? new RegistrationError('duplicate', true, 0, true)
          : n === 2
            ? new RegistrationError('bad secret', true, 0, false)
            : null,
    );
    const sup = supervisor(f.dial, { protocol: 'http2', regions: [edges(7001, 7002, 7003)] });
    sup.start();
    await until(() => sup.readyConnections === 1, 'a connection');
    expect(f.dials.map((d) => d.edge)).toEqual([
      '192.0.2.1:7001',
      '192.0.2.1:7002',
      '192.0.2.1:7003',
      '192.0.2.1:7003',
    ]);
    await sup.shutdown(100);
  });

  it('starts connection i in region i mod n, and reconnects a lost connection where it was', async () => {
    const f = scriptedDialer(() => null);
    const sup = supervisor(f.dial, {
      protocol: 'quic',
      ha: 4,
      regions: [edges(7001, 7002), edges(8001, 8002)],
    });
    sup.start();
    await until(() => sup.readyConnections === 4, 'four connections');
    const byIndex = new Map(f.dials.map((d) => [d.index, d.edge]));
    expect([0, 1, 2, 3].map((i) => byIndex.get(i))).toEqual([
      '192.0.2.1:7001',
      '192.0.2.1:8001',
      '192.0.2.1:7002',
      '192.0.2.1:8002',
    ]);
    f.conns[1]?.emit('close', new Error('edge went away'));
    await until(() => f.dials.length === 5 && sup.readyConnections === 4, 'the reconnect');
    expect(f.dials[4]).toMatchObject({ index: 1, edge: '192.0.2.1:8001' });
    await sup.shutdown(100);
  });

  it('shuts down by unregistering and draining every live connection before closing it', async () => {
    const f = scriptedDialer(() => null);
    const sup = supervisor(f.dial, { protocol: 'http2', ha: 2 });
    sup.start();
    await until(() => sup.readyConnections === 2, 'two connections');
    await sup.shutdown(100);
    expect(f.conns.map((c) => [c.unregistered, c.closed])).toEqual([
      [true, true],
      [true, true],
    ]);
    expect(sup.status.map((s) => s.state)).toEqual(['stopped', 'stopped']);
  });
});
