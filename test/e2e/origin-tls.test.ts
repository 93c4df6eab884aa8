import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { events, startKube, type KubeProc } from '../helpers/kube.js';
import { POD_IP, INGRESS_CLASS, caSecret, ingress, service, slice } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * HTTPS origins: verification on by default (system roots plus a CA bundle from a Secret), SNI from the
 * Host or an annotation, an explicit opt-out that is reported, and invalid values that get Events.
 */
const annotated = (name: string, host: string, annotations: Record<string, string>) =>
  ingress(name, [{ host, paths: [['/', 'Prefix', 'secure']] }], '', annotations);

describe('origin TLS', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let server: https.Server;

  beforeAll(async () => {
    const pki = await createPki({
      dnsNames: ['tls.test', 'alt.example', 'insecure.test'],
      caName: 'origin test CA',
    });
    server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          servername: (req.socket as { servername?: string }).servername ?? null,
          host: req.headers.host,
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, POD_IP, r));
    const port = (server.address() as AddressInfo).port;
    k = await startKube();
    const hosts = ['tls.test', 'noca.test', 'sni.test', 'insecure.test', 'bad.test'];
    edge = await startEdgeSim({ tunnels: ['tls'], routes: hosts.map((h) => `${h}=tls`) });
    const HTTPS = { 'tunnel-ingress.dev/backend-protocol': 'HTTPS' };
    await k.apply(
      [
        INGRESS_CLASS,
        service('secure'),
        slice('secure-1', 'secure', port, [{}]),
        caSecret('origin-ca', pki.caPem),
        annotated('verified', 'tls.test', { ...HTTPS, 'tunnel-ingress.dev/origin-ca-secret': 'origin-ca' }),
        annotated('noca', 'noca.test', HTTPS),
        annotated('sni', 'sni.test', {
          ...HTTPS,
          'tunnel-ingress.dev/origin-ca-secret': 'origin-ca',
          'tunnel-ingress.dev/origin-sni': 'alt.example',
        }),
        annotated('insecure', 'insecure.test', {
          ...HTTPS,
          'tunnel-ingress.dev/origin-insecure-skip-verify': 'true',
        }),
        annotated('bad', 'bad.test', { 'tunnel-ingress.dev/backend-protocol': 'SPDY' }),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'tls', k, ['--ha-connections', '1']), {
      waitReady: 1,
    });
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    server?.close();
  });

  const visit = async (host: string) => {
    const res = await request(`${edge.publicUrl}/`, { headers: { host } });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      body: res.statusCode === 200 ? (JSON.parse(text) as { servername: string | null }) : null,
    };
  };

  it('verifies against the CA from the Secret, with the Host as SNI', async () => {
    const r = await waitUntil(
      async () => {
        const v = await visit('tls.test');
        return v.status === 200 ? v : undefined;
      },
      10_000,
      'tls.test served over TLS',
    );
    expect(r.body?.servername).toBe('tls.test');
  });

  it('refuses an origin it cannot verify (502), and uses the SNI annotation', async () => {
    expect((await visit('noca.test')).status).toBe(502);
    const sni = await visit('sni.test');
    expect(sni.status).toBe(200);
    expect(sni.body?.servername).toBe('alt.example');
  });

  it('skips verification only when told, and says so in an Event and the log', async () => {
    expect((await visit('insecure.test')).status).toBe(200);
    const found = await waitUntil(
      async () => {
        const items = await events(k);
        const unverified = items.find(
          (e) => e.reason === 'OriginTLSUnverified' && e.involvedObject.name === 'insecure',
        );
        const invalid = items.find(
          (e) => e.reason === 'InvalidAnnotation' && e.involvedObject.name === 'bad',
        );
        return unverified !== undefined && invalid !== undefined ? { unverified, invalid } : undefined;
      },
      10_000,
      'the Events',
    );
    expect(found.invalid.message).toContain('SPDY');
    expect(agent.proc.lines.some((l) => String(l.msg).includes('not verified'))).toBe(true);
  });
});
