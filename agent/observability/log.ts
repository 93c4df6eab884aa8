import pino, { type DestinationStream, type Logger } from 'pino';

/** The agent's two loggers, writing to one destination so their lines never interleave. */
export interface Loggers {
  /** everything but the access log; anything that could carry a credential is redacted */
  log: Logger;
  /** one line per request, null when off or filtered out by the level (so the hot path skips it) */
  access: Logger | null;
  /** writes what is buffered; call before exiting */
  flush(): Promise<void>;
  /** called with how many lines were dropped because stdout is blocked and the buffer is full */
  onDrop(listener: (lines: number) => void): void;
}

/** Where lines wait while stdout is blocked; past this they are dropped (and counted), never held. */
const MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * Logs are JSON lines on stdout, written asynchronously: the lines of one event-loop turn are joined
 * and handed over together at its end, and while a write is in flight what comes meanwhile waits and
 * goes out in the next one. Under load many access lines share one write instead of costing a
 * thread-pool round trip each (the access log's cost was mostly that); at rest a line goes out in
 * the turn it was logged. Redaction by path is a second line of defence for the general log (the first
 * is never passing tokens or secrets to a log call at all); the access log's fields are the agent's
 * own and hold none of those keys, so it does without the redaction pass.
 */
export function createLoggers(level: string, opts: { pretty?: boolean; accessLog?: boolean } = {}): Loggers {
  const redact = {
    paths: [
      'token',
      'secret',
      'tunnelSecret',
      'credentials',
      '*.token',
      '*.secret',
      '*.tunnelSecret',
      'headers.authorization',
    ],
    censor: '[redacted]',
  };
  if (opts.pretty === true) {
    // pino-pretty runs in a worker thread; the access log shares it.
    const log = pino({
      name: 'tunnel-ingress',
      level,
      redact,
      transport: {
        target: 'pino-pretty',
        options: { colorize: process.stdout.isTTY === true, translateTime: 'HH:MM:ss.l' },
      },
    });
    const access = opts.accessLog === false || !log.isLevelEnabled('info') ? null : log;
    return { log, access, flush: () => new Promise((r) => log.flush(() => r())), onDrop() {} };
  }
  const dest = pino.destination({ dest: 1, sync: false, maxLength: MAX_BUFFERED });
  // A closed stdout (a log reader gone) must not take the agent down with an unhandled 'error'.
  dest.on('error', () => {});
  // The turn's lines, handed over once at its end: nothing runs while the agent is idle.
  let pending = '';
  const handOver = () => {
    const lines = pending;
    pending = '';
    if (lines === '') return;
    try {
      dest.write(lines);
    } catch {
      // destroyed: nothing to write to any more
    }
  };
  const out: DestinationStream = {
    write(line: string) {
      if (pending === '') setImmediate(handOver);
      pending += line;
    },
  };
  const log = pino({ name: 'tunnel-ingress', level, redact }, out);
  const access =
    opts.accessLog === false || !log.isLevelEnabled('info')
      ? null
      : pino({ name: 'tunnel-ingress', level }, out);
  return {
    log,
    access,
    flush: () =>
      new Promise((resolve) => {
        handOver();
        try {
          // What is still buffered goes out now, synchronously (shutdown: the process exits next).
          dest.flushSync();
        } catch {
          // not open yet, or destroyed
        }
        resolve();
      }),
    onDrop(listener) {
      // A write is a turn's lines joined: count them.
      dest.on('drop', (data: unknown) => listener(Math.max(1, String(data).split('\n').length - 1)));
    },
  };
}
