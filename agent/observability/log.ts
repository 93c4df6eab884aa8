import pino, { type DestinationStream, type Logger } from 'pino';

/** The agent's two loggers, writing to one destination so their lines never interleave. */
export interface Loggers {
  /** everything but the access log; anything that could carry a credential is redacted */
  log: Logger;
  /** one line per request, null when off or filtered out by the level (so the hot path skips it) */
  access: Logger | null;
  /** writes what is buffered; call before exiting */
  flush(): Promise<void>;
  /** called for each line dropped because stdout is blocked and the buffer is full */
  onDrop(listener: () => void): void;
}

/** Where lines wait while stdout is blocked; past this they are dropped (and counted), never held. */
const MAX_BUFFERED = 16 * 1024 * 1024;
/** Lines are written once this much is waiting (about 20 access lines)… */
const WRITE_AT = 4096;
/** …or this long after the first of them, so a quiet agent's lines still go out at once for a reader. */
const FLUSH_EVERY_MS = 100;

/**
 * Logs are JSON lines on stdout, written asynchronously: lines join a buffer that goes out in one
 * write once 4 KiB are waiting, or every 100 ms. Under load about twenty access lines share one write
 * instead of costing a thread-pool round trip each (the access log's cost was mostly that); at rest a
 * line waits at most 100 ms. Redaction by path is a second line of defence for the general log (the first
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
  const dest = pino.destination({ dest: 1, sync: false, minLength: WRITE_AT, maxLength: MAX_BUFFERED });
  // A closed stdout (a log reader gone) must not take the agent down with an unhandled 'error'.
  dest.on('error', () => {});
  // The 100 ms timer runs only while lines wait: an idle agent has no timer of its own here.
  let timer: NodeJS.Timeout | null = null;
  const flushNow = () => {
    timer = null;
    try {
      dest.flush();
    } catch {
      // destroyed: nothing to write to any more
    }
  };
  const out: DestinationStream = {
    write(line: string) {
      dest.write(line);
      if (timer === null) {
        timer = setTimeout(flushNow, FLUSH_EVERY_MS);
        timer.unref();
      }
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
        if (timer !== null) clearTimeout(timer);
        timer = null;
        try {
          dest.flush(() => resolve());
        } catch {
          resolve();
        }
      }),
    onDrop(listener) {
      dest.on('drop', listener);
    },
  };
}
