import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { POD_IP, INGRESS_CLASS, caSecret, ingress, service, slice } from '../helpers/origins.js';
import { run, waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * HTTP/2 to origins: backend-protocol H2C speaks HTTP/2 with prior knowledge, HTTPS offers h2 through
 * ALPN and an origin that picks it gets HTTP/2; visitors arrive over HTTP/1.1 or (curl) h2c. The
 * origins report the HTTP version they saw, and stream a body to show nothing waits for the end.
 */

function versionServer(server: http2.Http2Server | http2.Http2SecureServer): void {
  server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': 'h2' });
      res.end(
        JSON.stringify({
          httpVersion: req.httpVersion,
          alpn: (req.socket as { alpnProtocol?: string }).alpnProtocol ?? null,
          host: req.headers[':authority'] ?? req.headers.host,
          method: req.method,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
}

describe.each(['http2', 'quic'])('HTTP/2 origins over %s', (protocol) => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let h2c: http2.Http2Server;
  let h2tls: http2.Http2SecureServer;

  beforeAll(async () => {
    const pki = await createPki({ dnsNames: ['alpn.test'], caName: 'alpn test CA' });
    h2c = http2.createServer();
    versionServer(h2c);
    h2tls = http2.createSecureServer({ cert: pki.certPem, key: pki.keyPem, allowHTTP1: true });
    versionServer(h2tls);
    await new Promise<void>((r) => h2c.listen(0, POD_IP, r));
    await new Promise<void>((r) => h2tls.listen(0, POD_IP, r));
    k = await startKube();
    edge = await startEdgeSim({ tunnels: ['h'], routes: ['h2c.test=h', 'alpn.test=h'] });
    await k.apply(
      [
        INGRESS_CLASS,
        service('plain'),
        slice('plain-1', 'plain', (h2c.address() as AddressInfo).port, [{}]),
        service('secure'),
        slice('secure-1', 'secure', (h2tls.address() as AddressInfo).port, [{}]),
        caSecret('alpn-ca', pki.caPem),
        ingress('h2c', [{ host: 'h2c.test', paths: [['/', 'Prefix', 'plain']] }], '', {
          'tunnel-ingress.dev/backend-protocol': 'H2C',
        }),
        ingress('alpn', [{ host: 'alpn.test', paths: [['/', 'Prefix', 'secure']] }], '', {
          'tunnel-ingress.dev/backend-protocol': 'HTTPS',
          'tunnel-ingress.dev/origin-ca-secret': 'alpn-ca',
        }),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'h', k, ['--protocol', protocol, '--ha-connections', '1']), {
      waitReady: 1,
    });
    // The origin CA Secret is read after the caches sync (one watch per Secret a route names); until
    // then that route answers 503, never a verification against the wrong roots.
    const seen: number[] = [];
    await waitUntil(
      async () => {
        const res = await request(`${edge.publicUrl}/alpn`, { headers: { host: 'alpn.test' } });
        await res.body.text();
        seen.push(res.statusCode);
        return res.statusCode === 200 ? true : undefined;
      },
      10_000,
      'the route with the origin CA Secret',
    );
    expect(seen.filter((s) => s !== 200 && s !== 503)).toEqual([]);
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    h2c?.close();
    h2tls?.close();
  });

  it('H2C: an HTTP/1.1 visitor reaches the origin over HTTP/2 with prior knowledge, body and all', async () => {
    const res = await request(`${edge.publicUrl}/upload`, {
      method: 'POST',
      headers: { host: 'h2c.test', 'content-type': 'text/plain' },
      body: 'x'.repeat(100_000),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-origin']).toBe('h2');
    const seen = (await res.body.json()) as { httpVersion: string; host: string; body: string };
    expect(seen.httpVersion).toBe('2.0');
    expect(seen.host).toBe('h2c.test');
    expect(seen.body.length).toBe(100_000);
  });

  it('H2C: curl over h2c with prior knowledge at the public port', async () => {
    const r = await run('curl', [
      '-s',
      '--http2-prior-knowledge',
      '-H',
      'Host: h2c.test',
      '-w',
      '\\n%{http_version} %{http_code}',
      `${edge.publicUrl}/curl`,
    ]);
    const [body, tail] = r.stdout.split('\n');
    expect(tail).toBe('2 200');
    expect((JSON.parse(body as string) as { httpVersion: string }).httpVersion).toBe('2.0');
  });

  it('HTTPS: an origin that chooses h2 through ALPN gets HTTP/2, verified against the CA', async () => {
    const res = await request(`${edge.publicUrl}/alpn`, { headers: { host: 'alpn.test' } });
    expect(res.statusCode).toBe(200);
    const seen = (await res.body.json()) as { httpVersion: string; alpn: string | null };
    expect(seen.httpVersion).toBe('2.0');
    expect(seen.alpn).toBe('h2');
  });
});
