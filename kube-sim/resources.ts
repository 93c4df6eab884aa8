import { RBAC_RESOURCES } from './rbac-resources.js';

/**
 * The kinds kube-sim serves, as data: adding a kind is adding an entry here. `model` names the
 * @kubernetes/client-node class whose field map (generated from Kubernetes' own OpenAPI document) gives
 * the schema; `mergeKeys` gives the list merge keys (patchMergeKey / x-kubernetes-list-map-keys) that
 * strategic merge patch and server-side apply use, by field path with `[]` for list elements.
 */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  /** dotted path into the object, or a function of it */
  value: (obj: KubeObject) => unknown;
  priority?: number;
}

export interface ResourceKind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  /** @kubernetes/client-node model class, for the OpenAPI schema and strict field validation */
  model: string;
  /** a status subresource: the main endpoint ignores status, /status changes only status */
  statusSubresource: boolean;
  /** generation counts spec changes; false for kinds whose whole body is data (Secret, Event…) */
  hasSpec: boolean;
  mergeKeys: Record<string, string[]>;
  /** schema defaults of list-map key fields, used when an element leaves them out (Service ports: protocol TCP) */
  keyDefaults?: Record<string, Record<string, unknown>>;
  /** strategic merge patch's patchMergeKey where it differs from the list-map keys (Service ports: port) */
  patchMergeKeys?: Record<string, string[]>;
  /** lists whose elements are merged as a set of primitives rather than replaced */
  setLists?: string[];
  columns: TableColumn[];
  /**
   * field selectors the real server supports for this kind beyond metadata.name and
   * metadata.namespace (any other is 400 "field label not supported")
   */
  fieldSelectors?: string[];
  /** checks beyond the schema; returns field errors */
  validate?: (obj: KubeObject) => FieldError[];
  /** defaults the real API server fills in */
  defaults?: (obj: KubeObject) => void;
}

export interface FieldError {
  field: string;
  type: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported';
  message: string;
}

export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
};

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: unknown[];
  managedFields?: unknown[];
  [k: string]: unknown;
}

export function apiVersionOf(r: ResourceKind): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

export function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const ingressPathTypes = new Set(['Exact', 'Prefix', 'ImplementationSpecific']);

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IPV4_HOST = /^\d{1,3}(\.\d{1,3}){3}$/;

/** A rule's host as the real server checks it: a DNS name, `*` only as the whole first label. */
function validateIngressHost(host: unknown, field: string): FieldError[] {
  if (host === undefined || host === '') return [];
  const h = String(host);
  if (IPV4_HOST.test(h) || h.includes(':'))
    return [
      {
        field,
        type: 'FieldValueInvalid',
        message: `Invalid value: "${h}": must be a DNS name, not an IP address`,
      },
    ];
  const name = h.startsWith('*.') ? h.slice(2) : h;
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    return [
      {
        field,
        type: 'FieldValueInvalid',
        message: h.includes('*')
          ? `Invalid value: "${h}": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain`
          : `Invalid value: "${h}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
      },
    ];
  return [];
}

/** A service backend's port: a number from 1 to 65535 or a name, exactly one of them. */
function validateBackendPort(backend: unknown, field: string): FieldError[] {
  const service = get(backend, 'service');
  if (service === undefined) return [];
  const number = get(service, 'port.number');
  const name = get(service, 'port.name');
  const at = `${field}.service.port`;
  if (number === undefined && (name === undefined || name === ''))
    return [
      { field: at, type: 'FieldValueRequired', message: 'Required value: port name or number is required' },
    ];
  if (number !== undefined && name !== undefined && name !== '')
    return [
      {
        field: at,
        type: 'FieldValueInvalid',
        message: 'Invalid value: cannot set both port name & port number',
      },
    ];
  if (number !== undefined && (typeof number !== 'number' || number < 1 || number > 65535))
    return [
      {
        field: `${at}.number`,
        type: 'FieldValueInvalid',
        message: `Invalid value: ${String(number)}: must be between 1 and 65535, inclusive`,
      },
    ];
  return [];
}

function validateIngress(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const fallback = get(obj, 'spec.defaultBackend');
  if (fallback !== undefined) errs.push(...validateBackendPort(fallback, 'spec.defaultBackend'));
  arr(get(obj, 'spec.rules')).forEach((rule, i) => {
    errs.push(...validateIngressHost(get(rule, 'host'), `spec.rules[${i}].host`));
    arr(get(rule, 'http.paths')).forEach((p, j) => {
      const at = `spec.rules[${i}].http.paths[${j}]`;
      errs.push(...validateBackendPort(get(p, 'backend'), `${at}.backend`));
      const pathType = get(p, 'pathType');
      if (pathType === undefined)
        errs.push({
          field: `${at}.pathType`,
          type: 'FieldValueRequired',
          message: 'Required value: pathType must be specified',
        });
      else if (!ingressPathTypes.has(pathType as string)) {
        errs.push({
          field: `${at}.pathType`,
          type: 'FieldValueNotSupported',
          message: `Unsupported value: "${String(pathType)}": supported values: "Exact", "ImplementationSpecific", "Prefix"`,
        });
      }
      if (get(p, 'backend') === undefined)
        errs.push({
          field: `${at}.backend`,
          type: 'FieldValueRequired',
          message: 'Required value: backend must be specified',
        });
      const path = get(p, 'path');
      if (
        (pathType === 'Exact' || pathType === 'Prefix') &&
        (typeof path !== 'string' || !path.startsWith('/'))
      ) {
        errs.push({
          field: `${at}.path`,
          type: 'FieldValueInvalid',
          message: `Invalid value: "${String(path)}": must be an absolute path`,
        });
      }
    });
  });
  return errs;
}

function validateEndpointSlice(obj: KubeObject): FieldError[] {
  const t = obj.addressType;
  if (t === undefined)
    return [{ field: 'addressType', type: 'FieldValueRequired', message: 'Required value' }];
  if (t !== 'IPv4' && t !== 'IPv6' && t !== 'FQDN') {
    return [
      { field: 'addressType', type: 'FieldValueNotSupported', message: `Unsupported value: "${String(t)}"` },
    ];
  }
  return [];
}

// MicroTime is RFC 3339 with exactly six fractional digits; the API server refuses anything else.
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

function validateLease(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of ['acquireTime', 'renewTime']) {
    const v = get(obj, `spec.${f}`);
    if (v !== undefined && v !== null && (typeof v !== 'string' || !MICRO_TIME.test(v))) {
      errs.push({
        field: `spec.${f}`,
        type: 'FieldValueInvalid',
        message: `Invalid value: "${String(v)}": must be a MicroTime (RFC 3339 with microseconds)`,
      });
    }
  }
  return errs;
}

function defaultService(obj: KubeObject): void {
  const spec = (obj.spec ??= {}) as Record<string, unknown>;
  spec.type ??= 'ClusterIP';
  for (const p of arr(spec.ports) as Array<Record<string, unknown>>) {
    p.protocol ??= 'TCP';
    p.targetPort ??= p.port;
  }
}

const age: TableColumn = { name: 'Age', type: 'date', value: (o) => o.metadata?.creationTimestamp };

export const RESOURCES: ResourceKind[] = [
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    fieldSelectors: ['status.phase'],
    plural: 'namespaces',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    model: 'V1Namespace',
    statusSubresource: true,
    hasSpec: false,
    mergeKeys: {},
    columns: [{ name: 'Status', type: 'string', value: (o) => get(o, 'status.phase') ?? 'Active' }, age],
    defaults: (o) => {
      o.status ??= { phase: 'Active' };
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'Service',
    plural: 'services',
    singular: 'service',
    namespaced: true,
    shortNames: ['svc'],
    model: 'V1Service',
    statusSubresource: true,
    hasSpec: true,
    mergeKeys: { 'spec.ports': ['port', 'protocol'] },
    patchMergeKeys: { 'spec.ports': ['port'] },
    keyDefaults: { 'spec.ports': { protocol: 'TCP' } },
    columns: [
      { name: 'Type', type: 'string', value: (o) => get(o, 'spec.type') },
      { name: 'Cluster-IP', type: 'string', value: (o) => get(o, 'spec.clusterIP') ?? '<none>' },
      {
        name: 'Port(s)',
        type: 'string',
        value: (o) =>
          arr(get(o, 'spec.ports'))
            .map((p) => `${String(get(p, 'port'))}/${String(get(p, 'protocol') ?? 'TCP')}`)
            .join(',') || '<none>',
      },
      age,
    ],
    defaults: defaultService,
  },
  {
    group: '',
    version: 'v1',
    kind: 'Secret',
    fieldSelectors: ['type'],
    plural: 'secrets',
    singular: 'secret',
    namespaced: true,
    model: 'V1Secret',
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: [
      { name: 'Type', type: 'string', value: (o) => o.type ?? 'Opaque' },
      {
        name: 'Data',
        type: 'integer',
        value: (o) => Object.keys((o.data as object | undefined) ?? {}).length,
      },
      age,
    ],
    defaults: (o) => {
      o.type ??= 'Opaque';
      // stringData is write-only: folded into data, as the API server does.
      if (o.stringData !== undefined && typeof o.stringData === 'object' && o.stringData !== null) {
        const data = (o.data ??= {}) as Record<string, string>;
        for (const [k, v] of Object.entries(o.stringData as Record<string, string>))
          data[k] = Buffer.from(String(v)).toString('base64');
        delete o.stringData;
      }
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    model: 'V1ConfigMap',
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: [
      {
        name: 'Data',
        type: 'integer',
        value: (o) => Object.keys((o.data as object | undefined) ?? {}).length,
      },
      age,
    ],
  },
  {
    group: '',
    version: 'v1',
    kind: 'Event',
    fieldSelectors: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    model: 'CoreV1Event',
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: [
      {
        name: 'Last Seen',
        type: 'date',
        value: (o) => o.lastTimestamp ?? o.eventTime ?? o.metadata?.creationTimestamp,
      },
      { name: 'Type', type: 'string', value: (o) => o.type },
      { name: 'Reason', type: 'string', value: (o) => o.reason },
      {
        name: 'Object',
        type: 'string',
        value: (o) =>
          `${String(get(o, 'involvedObject.kind') ?? '').toLowerCase()}/${String(get(o, 'involvedObject.name') ?? '')}`,
      },
      { name: 'Message', type: 'string', value: (o) => o.message },
    ],
  },
  {
    group: 'events.k8s.io',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    model: 'EventsV1Event',
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: [
      { name: 'Type', type: 'string', value: (o) => o.type },
      { name: 'Reason', type: 'string', value: (o) => o.reason },
      { name: 'Note', type: 'string', value: (o) => o.note },
      age,
    ],
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    kind: 'EndpointSlice',
    plural: 'endpointslices',
    singular: 'endpointslice',
    namespaced: true,
    model: 'V1EndpointSlice',
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: [
      { name: 'AddressType', type: 'string', value: (o) => o.addressType },
      {
        name: 'Ports',
        type: 'string',
        value: (o) =>
          arr(o.ports)
            .map((p) => String(get(p, 'port')))
            .join(',') || '<unset>',
      },
      {
        name: 'Endpoints',
        type: 'string',
        value: (o) =>
          arr(o.endpoints)
            .flatMap((e) => arr(get(e, 'addresses')))
            .join(',') || '<unset>',
      },
      age,
    ],
    validate: validateEndpointSlice,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'Ingress',
    plural: 'ingresses',
    singular: 'ingress',
    namespaced: true,
    shortNames: ['ing'],
    model: 'V1Ingress',
    statusSubresource: true,
    hasSpec: true,
    mergeKeys: {},
    columns: [
      { name: 'Class', type: 'string', value: (o) => get(o, 'spec.ingressClassName') ?? '<none>' },
      {
        name: 'Hosts',
        type: 'string',
        value: (o) =>
          arr(get(o, 'spec.rules'))
            .map((r) => get(r, 'host') ?? '*')
            .join(',') || '*',
      },
      {
        name: 'Address',
        type: 'string',
        value: (o) =>
          arr(get(o, 'status.loadBalancer.ingress'))
            .map((i) => get(i, 'hostname') ?? get(i, 'ip'))
            .join(','),
      },
      {
        name: 'Ports',
        type: 'string',
        value: (o) => (arr(get(o, 'spec.tls')).length > 0 ? '80, 443' : '80'),
      },
      age,
    ],
    validate: validateIngress,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'IngressClass',
    plural: 'ingressclasses',
    singular: 'ingressclass',
    namespaced: false,
    model: 'V1IngressClass',
    statusSubresource: false,
    hasSpec: true,
    mergeKeys: {},
    columns: [
      { name: 'Controller', type: 'string', value: (o) => get(o, 'spec.controller') },
      {
        name: 'Parameters',
        type: 'string',
        value: (o) => (get(o, 'spec.parameters') === undefined ? '<none>' : 'set'),
      },
      age,
    ],
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    plural: 'leases',
    singular: 'lease',
    namespaced: true,
    model: 'V1Lease',
    statusSubresource: false,
    hasSpec: true,
    mergeKeys: {},
    columns: [{ name: 'Holder', type: 'string', value: (o) => get(o, 'spec.holderIdentity') ?? '' }, age],
    validate: validateLease,
  },
  ...RBAC_RESOURCES,
];

/** Every served kind gets these metadata merge keys. */
export const METADATA_MERGE_KEYS: Record<string, string[]> = { 'metadata.ownerReferences': ['uid'] };
export const METADATA_SET_LISTS = ['metadata.finalizers'];

export function resourceKey(r: ResourceKind): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}
