/**
 * The Kubernetes objects the router reads, reduced to the fields it uses. Objects from client-node's
 * list calls carry Date timestamps and those from watches carry strings; both are accepted.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  creationTimestamp?: string | Date;
  /** set while the object is being deleted (it has finalizers left) */
  deletionTimestamp?: string | Date;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
}

export interface ServiceBackendPort {
  number?: number;
  name?: string;
}

export interface IngressBackend {
  service?: { name?: string; port?: ServiceBackendPort };
  resource?: { kind?: string; name?: string; apiGroup?: string };
}

export interface Ingress {
  metadata?: ObjectMeta;
  spec?: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    rules?: Array<{
      host?: string;
      http?: { paths?: Array<{ path?: string; pathType?: string; backend?: IngressBackend }> };
    }>;
    tls?: Array<{ hosts?: string[]; secretName?: string }>;
  };
  status?: { loadBalancer?: { ingress?: Array<{ hostname?: string; ip?: string }> } };
}

export interface IngressClass {
  metadata?: ObjectMeta;
  spec?: { controller?: string };
}

export interface Service {
  metadata?: ObjectMeta;
  spec?: {
    ports?: Array<{
      name?: string;
      port?: number;
      targetPort?: number | string;
      protocol?: string;
      appProtocol?: string;
    }>;
    type?: string;
  };
}

export interface EndpointSlice {
  metadata?: ObjectMeta;
  addressType?: string;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    targetRef?: { name?: string };
  }>;
}

export function timeOf(t: string | Date | undefined): number {
  if (t === undefined) return 0;
  return t instanceof Date ? t.getTime() : Date.parse(t);
}

export function keyOf(m: ObjectMeta | undefined): string {
  return `${m?.namespace ?? ''}/${m?.name ?? ''}`;
}
