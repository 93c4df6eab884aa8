import pino, { type Logger } from 'pino';

/**
 * The agent's logger. Anything that could carry a credential is redacted by path as a second line of
 * defence; the first is never passing tokens or secrets to a log call at all.
 */
export function createLogger(level: string, pretty = false): Logger {
  return pino({
    name: 'tunnel-ingress',
    level,
    redact: {
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
    },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: process.stdout.isTTY === true, translateTime: 'HH:MM:ss.l' },
          },
        }
      : {}),
  });
}
