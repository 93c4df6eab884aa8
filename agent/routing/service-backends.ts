import { LOAD_BALANCE_ANNOTATION, ROUND_ROBIN, parsePolicy } from './load-balancer.js';
import type { OriginOptions } from './origin-options.js';
import type { Backend } from './route-table.js';
import type { Service, ServiceBackendPort } from './types.js';
import { Upstream, upstreamKey, type UpstreamSpec } from './upstreams.js';

/** Why a Service backend cannot serve (or serves with a default), for a Warning or a route status. */
export type BackendProblem = { reason: string; message: string };

/** Where a backend is named, for messages and labels. */
export interface BackendSite {
  /** `ingress/NS/NAME`, `httproute/NS/NAME` */
  source: string;
  /** the field that names it, e.g. `spec.rules[0].http.paths[1]` */
  where: string;
  /** the route's host: a metric label */
  host: string;
  origin: OriginOptions;
}

/**
 * Service ports as route sources name them (an Ingress backend, a Gateway API backendRef), resolved
 * against the cached Services during one compile. A Service port gets one upstream however many
 * routes name it, kept from the table in use where it exists (`existing`), made new (unregistered)
 * otherwise; the specs are applied by UpstreamRegistry.apply() just before the table is swapped in.
 */
export class ServiceBackends {
  readonly upstreams = new Map<string, UpstreamSpec>();

  constructor(
    private readonly services: ReadonlyMap<string, Service>,
    private readonly existing?: (key: string) => Upstream | undefined,
  ) {}

  /** The port of a cached Service a backend names (by number or name), if both exist. */
  servicePort(
    ns: string,
    name: string,
    port: ServiceBackendPort | undefined,
  ): NonNullable<NonNullable<Service['spec']>['ports']>[number] | undefined {
    return portOf(this.services.get(`${ns}/${name}`), port);
  }

  /**
   * The backend for a port of Service NS/NAME: an unavailable one (answered 503 by Ingress, 500 by
   * the Gateway API) with a problem when the Service or the port does not exist.
   */
  resolve(
    ns: string,
    name: string,
    port: ServiceBackendPort | undefined,
    site: BackendSite,
    problems: BackendProblem[],
  ): Backend {
    const portText = String(port?.number ?? port?.name ?? '?');
    const description = `${ns}/${name}:${portText}`;
    const { source, host, where } = site;
    const svc = this.services.get(`${ns}/${name}`);
    if (svc === undefined) {
      const reason = `Service ${ns}/${name} does not exist`;
      problems.push({ reason: 'ServiceNotFound', message: `${where}: ${reason}` });
      return { kind: 'unavailable', reason, source, description, host };
    }
    const sp = portOf(svc, port);
    if (sp === undefined || sp.port === undefined) {
      const given = port?.number ?? port?.name;
      problems.push({
        reason: 'UnknownServicePort',
        message: `${where}: Service ${ns}/${name} has no port ${given ?? '(none given)'}`,
      });
      return {
        kind: 'unavailable',
        reason: `Service ${ns}/${name} has no port ${given ?? ''}`,
        source,
        description,
        host,
      };
    }
    const portName = sp.name ?? '';
    const key = upstreamKey(ns, name, portName);
    let spec = this.upstreams.get(key);
    if (spec === undefined) {
      const upstream = this.existing?.(key) ?? new Upstream(ns, name, portName, sp.port);
      spec = { key, upstream, policy: ROUND_ROBIN };
      this.upstreams.set(key, spec);
    }
    const lb = svc.metadata?.annotations?.[LOAD_BALANCE_ANNOTATION];
    let policy = ROUND_ROBIN;
    if (lb !== undefined) {
      const parsed = parsePolicy(lb);
      if (parsed === null)
        problems.push({
          reason: 'InvalidAnnotation',
          message: `${where}: Service ${ns}/${name} has ${LOAD_BALANCE_ANNOTATION}="${lb}", which is not round-robin, least-request, hash:header:NAME, hash:cookie:NAME or hash:client-ip; using round-robin`,
        });
      else policy = parsed;
    }
    spec.policy = policy;
    return { kind: 'service', upstream: spec.upstream, source, description, host, origin: site.origin };
  }
}

function portOf(svc: Service | undefined, port: ServiceBackendPort | undefined) {
  return (svc?.spec?.ports ?? []).find((p) =>
    port?.number !== undefined ? p.port === port.number : port?.name !== undefined && p.name === port.name,
  );
}
