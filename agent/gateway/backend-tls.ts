import { createHash } from 'node:crypto';
import {
  HOSTNAME,
  SECRET_PENDING,
  type OriginOptions,
  type SecretLookup,
} from '../routing/origin-options.js';
import { keyOf, timeOf } from '../routing/types.js';
import type { BackendTLSPolicy } from './gateway-types.js';

/** A condition as the policy's status will carry it. */
interface Verdict {
  status: boolean;
  reason: string;
  message: string;
}

/** What the agent makes of one BackendTLSPolicy: its conditions and the Gateways whose routes use it. */
export interface PolicyOutcome {
  /** NS/NAME */
  key: string;
  generation: number | undefined;
  accepted: Verdict;
  resolvedRefs: Verdict;
  /** our Gateways (NS/NAME) with an accepted route to a Service port the policy covers */
  ancestors: Set<string>;
}

/** The TLS a Service port gets from its policy: options by origin protocol, or why it cannot connect. */
export interface PortTls {
  policy: PolicyOutcome;
  /** HTTP/1.1 (ALPN may choose h2) and HTTP/2 only; null when the policy is not usable (5xx, as the API says) */
  http: OriginOptions | null;
  h2: OriginOptions | null;
  problem: string | null;
}

/**
 * The BackendTLSPolicies of the moment, compiled once per route compile: by target (a Service, or one
 * of its ports by name), the older policy winning a target two of them name (the newer is Conflicted).
 * A usable policy makes the agent speak TLS to the Service's endpoints with the policy's hostname as
 * SNI and as the name checked (or its subjectAltNames instead), against the CA bundle of its
 * ConfigMap (`ca.crt`, that bundle alone) or the system roots (`wellKnownCACertificates: System`).
 */
export class BackendTlsPolicies {
  readonly outcomes = new Map<string, PolicyOutcome>();
  private readonly byTarget = new Map<string, PortTls>();

  constructor(policies: readonly BackendTLSPolicy[], configMaps: SecretLookup) {
    const ordered = [...policies].sort(
      (a, b) =>
        timeOf(a.metadata?.creationTimestamp) - timeOf(b.metadata?.creationTimestamp) ||
        (keyOf(a.metadata) < keyOf(b.metadata) ? -1 : 1),
    );
    for (const p of ordered) {
      const key = keyOf(p.metadata);
      const ns = p.metadata?.namespace ?? 'default';
      const tls = compilePolicy(p, ns, configMaps);
      const outcome: PolicyOutcome = {
        key,
        generation: p.metadata?.generation,
        accepted: tls.accepted,
        resolvedRefs: tls.resolvedRefs,
        ancestors: new Set(),
      };
      this.outcomes.set(key, outcome);
      const entry: PortTls = { policy: outcome, http: tls.http, h2: tls.h2, problem: tls.problem };
      for (const t of p.spec?.targetRefs ?? []) {
        if ((t.group ?? '') !== '' || (t.kind ?? '') !== 'Service') continue;
        const target = `${ns}/${t.name ?? ''}/${t.sectionName ?? ''}`;
        const holder = this.byTarget.get(target);
        if (holder !== undefined) {
          outcome.accepted = {
            status: false,
            reason: 'Conflicted',
            message: `the older BackendTLSPolicy ${holder.policy.key} already covers Service ${t.name ?? ''}${t.sectionName === undefined ? '' : ` port ${t.sectionName}`}`,
          };
          continue;
        }
        this.byTarget.set(target, entry);
      }
    }
  }

  /** The policy covering a Service port (its name; '' for an unnamed port), or null. */
  forPort(namespace: string, service: string, portName: string): PortTls | null {
    if (this.byTarget.size === 0) return null;
    return (
      (portName === '' ? undefined : this.byTarget.get(`${namespace}/${service}/${portName}`)) ??
      this.byTarget.get(`${namespace}/${service}/`) ??
      null
    );
  }
}

const OK = (reason: string, message: string): Verdict => ({ status: true, reason, message });
const NO = (reason: string, message: string): Verdict => ({ status: false, reason, message });

function compilePolicy(
  p: BackendTLSPolicy,
  ns: string,
  configMaps: SecretLookup,
): {
  accepted: Verdict;
  resolvedRefs: Verdict;
  http: OriginOptions | null;
  h2: OriginOptions | null;
  problem: string | null;
} {
  const v = p.spec?.validation ?? {};
  const hostname = (v.hostname ?? '').toLowerCase();
  const refs = v.caCertificateRefs ?? [];
  const wellKnown = v.wellKnownCACertificates ?? '';
  const unusable = (accepted: Verdict, resolvedRefs: Verdict) => ({
    accepted,
    resolvedRefs,
    http: null,
    h2: null,
    problem: accepted.status ? resolvedRefs.message : accepted.message,
  });
  if (!HOSTNAME.test(hostname))
    return unusable(
      NO('Invalid', `validation.hostname "${v.hostname ?? ''}" is not a host name`),
      OK('ResolvedRefs', 'resolved'),
    );
  if (refs.length > 0 === (wellKnown !== ''))
    return unusable(
      NO(
        'Invalid',
        'give exactly one of validation.caCertificateRefs and validation.wellKnownCACertificates',
      ),
      OK('ResolvedRefs', 'resolved'),
    );
  if (wellKnown !== '' && wellKnown !== 'System')
    return unusable(
      NO('Invalid', `wellKnownCACertificates "${wellKnown}" is not supported (only System)`),
      OK('ResolvedRefs', 'resolved'),
    );
  const sans: string[] = [];
  for (const s of v.subjectAltNames ?? []) {
    if (s.type === 'Hostname' && s.hostname !== undefined) sans.push(`DNS:${s.hostname.toLowerCase()}`);
    else if (s.type === 'URI' && s.uri !== undefined) sans.push(`URI:${s.uri}`);
  }
  let caPem: string | null = null;
  let pending: string | null = null;
  const bad: string[] = [];
  let badKind: string | null = null;
  for (const [i, ref] of refs.entries()) {
    const where = `validation.caCertificateRefs[${i}]`;
    if ((ref.group ?? '') !== '' || ref.kind !== 'ConfigMap') {
      badKind ??= `${where}: ${ref.group === '' || ref.group === undefined ? 'core' : ref.group}/${ref.kind ?? ''} is not a ConfigMap`;
      continue;
    }
    const data = configMaps(ns, ref.name ?? '');
    if (data === SECRET_PENDING) {
      pending ??= `configmap ${ns}/${ref.name ?? ''}`;
      continue;
    }
    const ca = data?.['ca.crt'];
    if (ca === undefined || !ca.includes('-----BEGIN CERTIFICATE-----')) {
      bad.push(
        `${where}: ConfigMap ${ns}/${ref.name ?? ''} ${data === undefined ? 'does not exist' : 'has no PEM certificate under ca.crt'}`,
      );
      continue;
    }
    caPem = caPem === null ? ca : `${caPem}\n${ca}`;
  }
  const resolvedRefs =
    badKind !== null
      ? NO('InvalidKind', badKind)
      : bad.length > 0
        ? NO('InvalidCACertificateRef', bad.join('; '))
        : OK('ResolvedRefs', 'resolved');
  if (refs.length > 0 && caPem === null && pending === null)
    return unusable(
      NO('NoValidCACertificate', 'no caCertificateRef gives a usable CA certificate'),
      resolvedRefs,
    );
  const digest = createHash('sha256')
    .update(`${caPem ?? 'system'}|${hostname}|${sans.join(',')}`)
    .digest('hex')
    .slice(0, 16);
  const base = {
    tls: true,
    caPem,
    sni: hostname,
    insecure: false,
    connectTimeoutMs: null,
    headersTimeoutMs: null,
    websocketIdleMs: null,
    pendingSecret: pending,
    systemRoots: caPem === null,
    subjectAltNames: sans.length === 0 ? null : sans,
  };
  return {
    accepted: OK('Accepted', 'accepted'),
    resolvedRefs,
    http: Object.freeze({ ...base, protocol: 'HTTPS', h2: false, key: `btls|HTTPS|${digest}` }),
    h2: Object.freeze({ ...base, protocol: 'GRPCS', h2: true, key: `btls|GRPCS|${digest}` }),
    problem: null,
  };
}
