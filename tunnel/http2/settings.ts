import type { Http2Session, Settings } from 'node:http2';

/**
 * Flow-control and keepalive settings shared by both ends. HTTP/2's 64 KiB default window caps one
 * stream at window/RTT (about 6 MiB/s at 10 ms), so both ends advertise large windows.
 */
export const STREAM_WINDOW = 4 * 1024 * 1024;
export const CONNECTION_WINDOW = 32 * 1024 * 1024;
/** Node refuses new streams once a session buffers more than this (MB). */
export const MAX_SESSION_MEMORY_MB = 128;

export const TUNNEL_SETTINGS: Settings = {
  initialWindowSize: STREAM_WINDOW,
  maxConcurrentStreams: 2 ** 32 - 1,
  enablePush: false,
  maxFrameSize: 64 * 1024,
};

export function raiseConnectionWindow(session: Http2Session): void {
  session.setLocalWindowSize(CONNECTION_WINDOW);
}

export interface KeepaliveOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 2000, timeoutMs: 5000 };

/**
 * Sends a PING every interval; a peer that acknowledges nothing for `timeoutMs` is declared dead and
 * the session destroyed, so a silent network failure is noticed in seconds rather than minutes.
 */
export function startKeepalive(
  session: Http2Session,
  opts: KeepaliveOptions,
  onDead: () => void,
): () => void {
  let lastAck = Date.now();
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || session.destroyed) return;
    if (Date.now() - lastAck > opts.timeoutMs) {
      stopped = true;
      clearInterval(timer);
      onDead();
      return;
    }
    try {
      session.ping((err) => {
        if (!err) lastAck = Date.now();
      });
    } catch {
      // Too many outstanding pings or a closing session: the timeout above decides.
    }
  }, opts.intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
