import dgram from 'node:dgram';
import type net from 'node:net';
import tls from 'node:tls';
import dnsPacket from 'dns-packet';

/**
 * A DNS server for tests, on 127.0.0.1: UDP (what the agent's resolver asks) and, when given a
 * certificate, DNS over TLS (RFC 7858) for the discovery fallback. Its records can change while it
 * runs; `refuseSrv` makes the UDP side answer SERVFAIL to SRV queries, as a resolver that mangles SRV
 * answers does (the case cloudflared's fallback is for).
 */
export interface SrvRecord {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface TestDnsServer {
  udpPort: number;
  dotPort: number | null;
  srv: Map<string, SrvRecord[]>;
  a: Map<string, string[]>;
  txt: Map<string, string>;
  refuseSrv: boolean;
  /** queries seen, `TYPE name` */
  queries: string[];
  close(): Promise<void>;
}

export async function startDnsServer(opts: { cert?: string; key?: string } = {}): Promise<TestDnsServer> {
  const srv = new Map<string, SrvRecord[]>();
  const a = new Map<string, string[]>();
  const txt = new Map<string, string>();
  const queries: string[] = [];
  const state = { refuseSrv: false };

  const answer = (query: dnsPacket.Packet, overUdp: boolean): dnsPacket.Packet => {
    const q = query.questions?.[0];
    const out: dnsPacket.Packet = {
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE,
      questions: query.questions,
      answers: [],
    };
    if (q === undefined) return out;
    queries.push(`${q.type} ${q.name}${overUdp ? '' : ' (TLS)'}`);
    const name = q.name.toLowerCase();
    if (q.type === 'SRV') {
      if (overUdp && state.refuseSrv) return { ...out, rcode: 'SERVFAIL' } as dnsPacket.Packet;
      for (const r of srv.get(name) ?? [])
        out.answers?.push({
          type: 'SRV',
          name: q.name,
          ttl: 5,
          data: { target: r.target, port: r.port, priority: r.priority ?? 1, weight: r.weight ?? 1 },
        });
    } else if (q.type === 'TXT') {
      const t = txt.get(name);
      if (t !== undefined) out.answers?.push({ type: 'TXT', name: q.name, ttl: 5, data: t });
    } else if (q.type === 'A') {
      for (const ip of a.get(name) ?? []) out.answers?.push({ type: 'A', name: q.name, ttl: 5, data: ip });
    }
    if (out.answers?.length === 0 && !srv.has(name) && !a.has(name) && !txt.has(name))
      return { ...out, rcode: 'NXDOMAIN' } as dnsPacket.Packet;
    return out;
  };

  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    udp.send(dnsPacket.encode(answer(query, true)), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));

  let dot: tls.Server | null = null;
  if (opts.cert !== undefined && opts.key !== undefined) {
    dot = tls.createServer({ cert: opts.cert, key: opts.key }, (s) => {
      let buf = Buffer.alloc(0);
      s.on('error', () => {});
      s.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const query = dnsPacket.decode(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          s.write(dnsPacket.streamEncode(answer(query, false)));
        }
      });
    });
    await new Promise<void>((r) => dot?.listen(0, '127.0.0.1', () => r()));
  }
  return {
    udpPort: udp.address().port,
    dotPort: dot === null ? null : (dot.address() as net.AddressInfo).port,
    srv,
    a,
    txt,
    get refuseSrv() {
      return state.refuseSrv;
    },
    set refuseSrv(v: boolean) {
      state.refuseSrv = v;
    },
    queries,
    async close() {
      udp.close();
      await new Promise<void>((r) => (dot === null ? r() : dot.close(() => r())));
    },
  };
}
