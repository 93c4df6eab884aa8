import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, EDGE_SERVER_NAMES, type Pki } from '../common/pki.js';
import { CLOUDFLARE_EDGE_ROOTS, defaultEdgeTrust, edgeTrustBundle } from './edge-roots.js';

const certs = (pem: string) =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );

describe("the edge's trust when no --cacert is given", () => {
  it("holds Cloudflare's three edge roots, CA certificates valid today, beside the public roots", () => {
    const cf = certs(CLOUDFLARE_EDGE_ROOTS);
    expect(cf.map((c) => /OU=([^\n]+)/.exec(c.subject)?.[1])).toEqual([
      'CloudFlare Origin SSL ECC Certificate Authority',
      'CloudFlare Origin SSL Certificate Authority',
      'Origin Pull',
    ]);
    for (const c of cf) {
      expect(c.ca).toBe(true);
      expect(c.checkIssued(c)).toBe(true); // self-signed roots
      expect(Date.parse(c.validTo)).toBeGreaterThan(Date.now());
    }
    const all = certs(defaultEdgeTrust().toString());
    expect(all.length).toBe(cf.length + tls.rootCertificates.length);
  });

  describe('over TLS, a test CA standing in for Cloudflare (the real edge is not reachable here)', () => {
    let standIn: Pki;
    let foreign: Pki;
    let server: tls.Server;
    let port: number;
    let served: Pki;

    beforeAll(async () => {
      standIn = await createPki({ dnsNames: EDGE_SERVER_NAMES, caName: 'stand-in Cloudflare edge root' });
      foreign = await createPki({ dnsNames: EDGE_SERVER_NAMES, caName: 'foreign CA' });
      served = standIn;
      server = tls.createServer({
        SNICallback: (_name, cb) =>
          cb(null, tls.createSecureContext({ cert: served.certPem, key: served.keyPem })),
      });
      server.on('secureConnection', (s) => s.end());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });

    afterAll(() => server?.close());

    const handshake = (ca: string) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'h2.cftunnel.com', ca }, () => {
          resolve('verified');
          s.destroy();
        });
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });

    it("verifies the edge's certificate when it chains to a root of the bundle", async () => {
      served = standIn;
      expect(await handshake(edgeTrustBundle(standIn.caPem))).toBe('verified');
    });

    it('refuses an edge certificate from a CA outside the bundle', async () => {
      served = foreign;
      expect(await handshake(edgeTrustBundle(standIn.caPem))).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      // The shipped bundle (Cloudflare's roots and the public ones) does not take it either.
      expect(await handshake(defaultEdgeTrust().toString())).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });
  });
});
