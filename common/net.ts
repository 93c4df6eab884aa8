import type { Server } from 'node:net';
import { ConfigError } from './errors.js';

/** Addresses as both programs take them on the command line, and the one way they start listening. */
export interface HostPort {
  host: string;
  port: number;
}

/** HOST:PORT or [IPv6]:PORT. Port 0 (any free port) only where `allowAnyPort` says a listener may take it. */
export function parseHostPort(value: string, flag: string, allowAnyPort = false): HostPort {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  if (m === null) {
    throw new ConfigError('CONFIG_INVALID', `${flag} wants HOST:PORT, got "${value}"`);
  }
  const port = Number(m[2]);
  if ((port < 1 && !allowAnyPort) || port > 65535) {
    throw new ConfigError('CONFIG_INVALID', `${flag}: port ${port} is out of range`);
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** Starts `server` listening and resolves with the address it got (the real port when 0 was asked). */
export function listen(server: Server, at: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const a = server.address() as { address: string; port: number };
      resolve({ host: a.address, port: a.port });
    });
  });
}
