import { quiche, type QuicheConfig } from './native.js';

/**
 * Transport parameters as cloudflared sets them (spec §4): ALPN argotunnel, 5 s idle timeout, 1350-byte
 * UDP payloads, large flow-control windows, datagrams enabled, and unlimited incoming streams on the
 * agent's side so the edge may open as many request streams as it likes.
 */
export const QUIC_ALPN = 'argotunnel';
export const QUIC_SERVER_NAME = 'quic.cftunnel.com';
export const MAX_UDP_PAYLOAD = 1350;

export interface QuicTlsOptions {
  /** client: PEM CA bundle to verify the server against */
  ca?: string | Buffer;
  /** client: skip verification (an explicit operator choice) */
  insecureSkipVerify?: boolean;
  /** server: certificate chain and key */
  certPem?: string;
  keyPem?: string;
}

export function quicConfig(server: boolean, tls: QuicTlsOptions, alpn = QUIC_ALPN): QuicheConfig {
  const verify = !server && tls.insecureSkipVerify !== true;
  const c = quiche().Config.withBoringSslCtx(
    verify,
    false,
    server || tls.ca === undefined ? null : Buffer.from(tls.ca),
    server && tls.keyPem !== undefined ? [Buffer.from(tls.keyPem)] : null,
    server && tls.certPem !== undefined ? [Buffer.from(tls.certPem)] : null,
    null,
  );
  c.setApplicationProtos([alpn]);
  c.setMaxIdleTimeout(5000);
  c.setMaxRecvUdpPayloadSize(MAX_UDP_PAYLOAD);
  c.setMaxSendUdpPayloadSize(MAX_UDP_PAYLOAD);
  c.setInitialMaxData(30 * 1024 * 1024);
  c.setInitialMaxStreamDataBidiLocal(6 * 1024 * 1024);
  c.setInitialMaxStreamDataBidiRemote(6 * 1024 * 1024);
  c.setInitialMaxStreamDataUni(1024 * 1024);
  c.setMaxConnectionWindow(30 * 1024 * 1024);
  c.setMaxStreamWindow(6 * 1024 * 1024);
  // quiche counts stream credit, not a total: a large number is the closest to quic-go's 2^60.
  c.setInitialMaxStreamsBidi(server ? 1000 : 1_000_000);
  c.setInitialMaxStreamsUni(1000);
  c.setDisableActiveMigration(true);
  c.enableDgram(true, 1024, 1024);
  return c;
}
