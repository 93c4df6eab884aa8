/**
 * Errors carry a stable code (for metrics, logs and tests) and the side that caused them, so that a
 * caller can tell a misbehaving peer from its own bug without parsing messages.
 */
export type ErrorSource = 'edge' | 'origin' | 'internal';

export class TunnelError extends Error {
  readonly code: string;
  readonly source: ErrorSource;

  constructor(code: string, message: string, options: { source: ErrorSource; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TunnelError';
    this.code = code;
    this.source = options.source;
  }
}

export function isTunnelError(err: unknown, code?: string): err is TunnelError {
  return err instanceof TunnelError && (code === undefined || err.code === code);
}
