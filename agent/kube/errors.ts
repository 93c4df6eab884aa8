/** The HTTP status of a failed client-node call, or 0 when the call never got an answer. */
export function statusOf(err: unknown): number {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } } | null;
  const c = e?.code ?? e?.statusCode ?? e?.response?.statusCode;
  return typeof c === 'number' ? c : 0;
}

/** A short, token-free description of a failed API call for logs. */
export function describeApiError(err: unknown): string {
  const status = statusOf(err);
  const body = (err as { body?: unknown } | null)?.body;
  let message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  if (typeof body === 'string') {
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // not a Status body; keep the error's own message
    }
  }
  return status === 0 ? (message ?? 'unknown error') : `HTTP ${status}: ${message ?? ''}`;
}
