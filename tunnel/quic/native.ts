/**
 * The one place that loads Cloudflare's quiche: the prebuilt napi module inside @matrixai/quic (pinned
 * in package.json). Only its low-level Config/Connection API is used; the package's high-level
 * classes measured 2.2 MiB/s here, against 120+ MiB/s for a lean driver over the same module.
 */
import { quiche } from '@matrixai/quic/native/index.js';
import type { Config, Connection, Host as HostPort, RecvInfo } from '@matrixai/quic/native/types.js';

export type QuicheConfig = Config;
export type QuicheConnection = Connection;
export type { HostPort, RecvInfo };

export const Quiche = quiche as unknown as {
  Config: {
    withBoringSslCtx(
      verifyPeer: boolean,
      verifyAllowFail: boolean,
      ca?: Uint8Array | null,
      key?: Uint8Array[] | null,
      cert?: Uint8Array[] | null,
      sigalgs?: string | null,
    ): Config;
  };
  Connection: {
    connect(
      serverName: string | null,
      scid: Uint8Array,
      local: HostPort,
      remote: HostPort,
      config: Config,
    ): Connection;
    accept(
      scid: Uint8Array,
      odcid: Uint8Array | null,
      local: HostPort,
      remote: HostPort,
      config: Config,
    ): Connection;
  };
};

/** The Shutdown enum of the native module: which half of a stream to shut. */
export const SHUTDOWN_READ = 0;
export const SHUTDOWN_WRITE = 1;
