import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type * as Undici from 'undici';
import type { Agent, buildConnector } from 'undici';
import { PLAIN, identityCheck, originCas, type OriginOptions } from '../routing/origin-options.js';
import { H2Sessions } from './h2-sessions.js';

/**
 * undici, loaded on the first request rather than at start: an agent that serves nothing yet does
 * not need it, and it is about 8 MiB of an idle agent's memory (measured: 68.6 against 76.4 MiB of RSS
 * with 4 HTTP/2 connections).
 */
let undici: typeof Undici | null = null;
function loadUndici(): typeof Undici {
  undici ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return undici;
}

/** cloudflared's defaults: 100 idle connections, 90 s idle timeout, 30 s connect timeout. */
export interface OriginPoolOptions {
  log: Logger;
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  responseHeaderTimeoutMs?: number;
}

/**
 * The agent's connections to origins: undici keep-alive pools for HTTP/1.1 (and HTTPS, where ALPN
 * may choose HTTP/2), one per distinct origin setting (TLS, a CA bundle, an SNI, timeouts) made on
 * first use, and node:http2 sessions for HTTP/2 origins (h2c, gRPC).
 */
export class OriginPools {
  private plainAgent: Agent | null = null;
  readonly h2: H2Sessions;
  private readonly agents = new Map<string, Agent>();
  private readonly warned = new Set<string>();

  constructor(private readonly opts: OriginPoolOptions) {
    this.h2 = new H2Sessions({
      connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
      idleTimeoutMs: opts.keepAliveTimeoutMs ?? 90_000,
      log: opts.log,
    });
  }

  /** The pool for plain HTTP origins with the default settings, made on first use. */
  get plain(): Agent {
    this.plainAgent ??= this.makeAgent(PLAIN);
    return this.plainAgent;
  }

  /** The pool for a route's origin settings; undefined settings: the plain pool. */
  agentFor(o: OriginOptions | undefined): Agent {
    if (o === undefined) return this.plain;
    let a = this.agents.get(o.key);
    if (a === undefined) {
      this.warnIfInsecure(o);
      a = this.makeAgent(o);
      this.agents.set(o.key, a);
    }
    return a;
  }

  /** Once per setting: verification is off for some routes. */
  warnIfInsecure(o: OriginOptions): void {
    if (!o.insecure || this.warned.has(o.key)) return;
    this.warned.add(o.key);
    this.opts.log.warn(
      'origin TLS certificates are not verified for some Ingresses (origin-insecure-skip-verify)',
    );
  }

  close(): Promise<void> {
    return Promise.all([
      this.plainAgent?.close(),
      this.h2.close(),
      ...[...this.agents.values()].map((a) => a.close()),
    ]).then(() => {});
  }

  /** cloudflared's defaults (100 idle, 90 s idle timeout, 30 s connect) unless the options say otherwise. */
  private makeAgent(o: OriginOptions): Agent {
    const connectTimeout = o.connectTimeoutMs ?? this.opts.connectTimeoutMs ?? 30_000;
    return new (loadUndici().Agent)({
      keepAliveTimeout: this.opts.keepAliveTimeoutMs ?? 90_000,
      keepAliveMaxTimeout: this.opts.keepAliveTimeoutMs ?? 90_000,
      headersTimeout: o.headersTimeoutMs ?? this.opts.responseHeaderTimeoutMs ?? 120_000,
      // Long-lived streams (server-sent events, slow downloads) must not be cut for being quiet.
      bodyTimeout: 0,
      pipelining: 1,
      // HTTPS origins may choose HTTP/2 through ALPN.
      allowH2: o.tls,
      connect: o.tls ? sniConnector(o, connectTimeout) : { timeout: connectTimeout },
    });
  }
}

/**
 * TLS to origins: the system roots plus the route's own CA bundle; the name sent and checked is the
 * SNI setting's or, without one, the request's Host (undici derives it from the Host header, and
 * would let that win over a connector option, hence the wrapper).
 */
function sniConnector(o: OriginOptions, timeout: number): buildConnector.connector {
  const base = loadUndici().buildConnector({
    timeout,
    // ALPN offers h2 and http/1.1; the connector is built here, so undici's own allowH2 does not reach it.
    allowH2: true,
    ca: originCas(o),
    rejectUnauthorized: !o.insecure,
    // Only when set: tls.connect would take an explicit undefined over its own check.
    ...identityCheck(o),
  });
  if (o.sni === null) return base;
  const sni = o.sni;
  return (opts, cb) => base({ ...opts, servername: sni }, cb);
}
