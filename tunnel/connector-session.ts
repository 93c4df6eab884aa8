import { TunnelError, type TunnelErrorCode } from './errors.js';
import {
  callRegisterConnection,
  callUnregisterConnection,
  callUpdateLocalConfiguration,
} from './registration.js';
import type { RemoteCapability, RpcConnection } from './rpc/rpc-connection.js';
import type { ConnectionDetails, RegisterConnectionParams } from './schema/tunnelrpc.js';

/**
 * The connector's side of a control stream, the same on both transports: register (and say clearly
 * why not), unregister within a deadline, and wait for the streams in flight to finish.
 */

/**
 * A configuration push is a few kilobytes of ingress rules; the agent takes routes from Kubernetes and
 * only acknowledges it, so anything larger is refused rather than buffered (cloudflared reads it whole).
 */
export const MAX_CONFIGURATION_BYTES = 1024 * 1024;

export class RegistrationError extends TunnelError {
  constructor(
    message: string,
    readonly shouldRetry: boolean,
    readonly retryAfterMs: number,
    readonly duplicate: boolean,
  ) {
    super(duplicate ? 'REGISTRATION_DUPLICATE' : 'REGISTRATION_REJECTED', message, { source: 'edge' });
    this.name = 'RegistrationError';
  }
}

function deadline<T>(
  p: Promise<T>,
  ms: number | undefined,
  code: TunnelErrorCode,
  message: string,
): Promise<T> {
  if (ms === undefined) return p;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TunnelError(code, message, { source: 'edge' })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** registerConnection, then (unless the tunnel is remotely managed) updateLocalConfiguration. */
export async function registerConnector(
  rpc: RpcConnection,
  cap: RemoteCapability,
  params: RegisterConnectionParams,
  localConfiguration: Buffer | undefined,
  timeoutMs?: number,
): Promise<ConnectionDetails> {
  const response = await deadline(
    callRegisterConnection(rpc, cap, params),
    timeoutMs,
    'REGISTRATION_TIMEOUT',
    'the edge did not complete registration in time',
  );
  if (response.kind === 'error') {
    const { cause, shouldRetry, retryAfter } = response.error;
    throw new RegistrationError(
      `the edge refused registration: ${cause}`,
      shouldRetry,
      Number(retryAfter / 1_000_000n),
      cause === 'EDUPCONN',
    );
  }
  if (response.details.uuid.length !== 16) {
    throw new TunnelError(
      'REGISTRATION_MALFORMED',
      'the edge returned a connection id that is not 16 bytes',
      { source: 'edge' },
    );
  }
  if (localConfiguration !== undefined && !response.details.tunnelIsRemotelyManaged) {
    // An error here is only logged by cloudflared; it does not undo the registration.
    await callUpdateLocalConfiguration(rpc, cap, localConfiguration).catch(() => {});
  }
  return response.details;
}

/** unregisterConnection within `timeoutMs`, then release the capability and end the RPC connection. */
export async function unregisterConnector(
  rpc: RpcConnection,
  cap: RemoteCapability,
  timeoutMs: number,
): Promise<void> {
  if (rpc.isClosed) return;
  try {
    await deadline(
      callUnregisterConnection(rpc, cap),
      timeoutMs,
      'UNREGISTER_TIMEOUT',
      'unregister timed out',
    );
  } finally {
    rpc.release(cap);
    rpc.abort('rpc: shutdown');
  }
}

/** Resolves when `active()` reaches 0, the connection closes, or `timeoutMs` passes. */
export async function drained(active: () => number, closed: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (active() > 0 && Date.now() < end && !closed()) await new Promise((r) => setTimeout(r, 50));
}
