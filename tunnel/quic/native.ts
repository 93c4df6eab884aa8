import { createRequire } from 'node:module';
import { TunnelError } from '../errors.js';

/**
 * The one place that loads Cloudflare's quiche: the prebuilt napi module of @matrixai/quic (its
 * linux-x64 build, pinned in package.json as an optional dependency, the only platform it is published
 * for). Only the low-level Config/Connection API is used; the package's high-level classes measured
 * 2.2 MiB/s here. Loaded on first use, so that where the module is missing QUIC fails with a clear,
 * typed error and `--protocol auto` falls back to HTTP/2.
 */
export interface HostPort {
  host: string;
  port: number;
}

export interface RecvInfo {
  to: HostPort;
  from: HostPort;
}

export interface QuicheConfig {
  setApplicationProtos(protos: string[]): void;
  setMaxIdleTimeout(ms: number): void;
  setMaxRecvUdpPayloadSize(n: number): void;
  setMaxSendUdpPayloadSize(n: number): void;
  setInitialMaxData(n: number): void;
  setInitialMaxStreamDataBidiLocal(n: number): void;
  setInitialMaxStreamDataBidiRemote(n: number): void;
  setInitialMaxStreamDataUni(n: number): void;
  setInitialMaxStreamsBidi(n: number): void;
  setInitialMaxStreamsUni(n: number): void;
  setMaxConnectionWindow(n: number): void;
  setMaxStreamWindow(n: number): void;
  setDisableActiveMigration(v: boolean): void;
  enableDgram(enabled: boolean, recvQueueLen: number, sendQueueLen: number): void;
}

export interface QuicheConnectionError {
  isApp: boolean;
  errorCode: number | bigint;
  reason: Uint8Array;
}

export interface QuicheConnection {
  recv(data: Uint8Array, info: RecvInfo): number;
  send(data: Uint8Array): [number, unknown] | null;
  streamRecv(id: number, data: Uint8Array): [number, boolean] | null;
  streamSend(id: number, data: Uint8Array, fin: boolean): number | null;
  streamShutdown(id: number, direction: number, err: number): void | null;
  streamCapacity(id: number): number;
  readable(): Iterable<number>;
  timeout(): number | null;
  onTimeout(): void;
  close(app: boolean, err: number, reason: Uint8Array): void | null;
  applicationProto(): Uint8Array;
  isEstablished(): boolean;
  isClosed(): boolean;
  isTimedOut(): boolean;
  peerError(): QuicheConnectionError | null;
  localError(): QuicheConnectionError | null;
  sendAckEliciting(): void;
  stats(): { sent: number; recv: number; lost: number };
}

interface QuicheModule {
  Config: {
    withBoringSslCtx(
      verifyPeer: boolean,
      verifyAllowFail: boolean,
      ca?: Uint8Array | null,
      key?: Uint8Array[] | null,
      cert?: Uint8Array[] | null,
      sigalgs?: string | null,
    ): QuicheConfig;
  };
  Connection: {
    connect(
      serverName: string | null,
      scid: Uint8Array,
      local: HostPort,
      remote: HostPort,
      config: QuicheConfig,
    ): QuicheConnection;
    accept(
      scid: Uint8Array,
      odcid: Uint8Array | null,
      local: HostPort,
      remote: HostPort,
      config: QuicheConfig,
    ): QuicheConnection;
  };
}

export const NATIVE_PACKAGE = '@matrixai/quic-linux-x64';
let loaded: QuicheModule | null = null;

export function quiche(): QuicheModule {
  if (loaded !== null) return loaded;
  try {
    loaded = createRequire(import.meta.url)(NATIVE_PACKAGE) as QuicheModule;
  } catch (cause) {
    throw new TunnelError(
      'QUIC_UNAVAILABLE',
      `QUIC needs the native module ${NATIVE_PACKAGE}, which is not installed or not built for ${process.platform}/${process.arch}; use --protocol http2`,
      { source: 'internal', cause },
    );
  }
  return loaded;
}

/** The Shutdown enum of the native module: which half of a stream to shut. */
export const SHUTDOWN_READ = 0;
export const SHUTDOWN_WRITE = 1;
