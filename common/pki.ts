import 'reflect-metadata';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { webcrypto } from 'node:crypto';

type Key = webcrypto.CryptoKey;
import path from 'node:path';
import * as x509 from '@peculiar/x509';

/**
 * Certificates for the simulators: a CA that clients are told to trust (edge-sim's --cacert, kube-sim's
 * kubeconfig) and a server certificate for the names and addresses they verify. Keys are ECDSA P-256,
 * which every cloudflared accepts.
 */
export const EDGE_SERVER_NAMES = ['h2.cftunnel.com', 'quic.cftunnel.com', 'probe.cftunnel.com'];

export interface PkiNames {
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  caName?: string;
}

export type EdgePki = Pki;

export interface Pki {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

export async function createPki(
  names: PkiNames = { dnsNames: EDGE_SERVER_NAMES, caName: 'edge-sim CA' },
): Promise<Pki> {
  const serverNames = names.dnsNames;
  x509.cryptoProvider.set(webcrypto as never);
  const now = Date.now();
  const notBefore = new Date(now - 60 * 60 * 1000);
  const notAfter = new Date(now + 10 * 365 * 24 * 60 * 60 * 1000);
  const caKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex'),
    name: `CN=${names.caName ?? 'simulator CA'}`,
    notBefore,
    notAfter,
    keys: caKeys as never,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey as never),
    ],
  });
  const serverKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex'),
    subject: `CN=${serverNames[0] ?? 'edge-sim'}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey as never,
    signingKey: caKeys.privateKey as never,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...serverNames.map((value) => ({ type: 'dns' as const, value })),
        ...(names.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey as Key);
  return {
    caPem: ca.toString('pem') + '\n',
    certPem: server.toString('pem') + '\n',
    keyPem: pem('PRIVATE KEY', keyDer),
  };
}

/** Loads DIR/ca.pem, DIR/server.pem and DIR/server-key.pem, creating them on first use. */
export async function loadOrCreatePki(dir: string, names?: PkiNames): Promise<Pki> {
  const files = { caPem: 'ca.pem', certPem: 'server.pem', keyPem: 'server-key.pem' } as const;
  try {
    const [caPem, certPem, keyPem] = await Promise.all(
      Object.values(files).map((f) => readFile(path.join(dir, f), 'utf8')),
    );
    return { caPem: caPem as string, certPem: certPem as string, keyPem: keyPem as string };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const pki = await createPki(names);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, files.caPem), pki.caPem);
  await writeFile(path.join(dir, files.certPem), pki.certPem);
  await writeFile(path.join(dir, files.keyPem), pki.keyPem, { mode: 0o600 });
  return pki;
}
