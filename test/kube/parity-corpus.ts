/**
 * The requests the parity test (test/e2e/kube-sim-parity.test.ts) sends, in order, to kube-sim and to
 * the real kube-apiserver, each in a fresh namespace (`NS` in paths and bodies). What is compared:
 * the status code, the Status reason, and for `show` a projection of the object that results, so
 * that a difference is reported in words a reader of docs/kube-sim.md can act on.
 */
export interface ParityRequest {
  /** what the row is called in the report */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  /** after the request, GET this and compare the projection of what it returns */
  show?: { path: string; fields: string[] };
  /** before `show`, wait up to this long for the object to be gone (a controller's work) */
  goneWithinMs?: number;
  /** read a watch stream for this long and compare the first event's type and the error's code */
  watchMs?: number;
}

const ING = '/apis/networking.k8s.io/v1/namespaces/NS/ingresses';
const CM = '/api/v1/namespaces/NS/configmaps';

function ingress(name: string, path: string, pathType: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, annotations: { owner: 'parity' }, labels: { app: 'parity' } },
    spec: {
      rules: [
        {
          host: 'parity.example.com',
          http: { paths: [{ path, pathType, backend: { service: { name: 'web', port: { number: 80 } } } }] },
        },
      ],
      ...extra,
    },
  };
}

const cm = (name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data,
});

export const CORPUS: ParityRequest[] = [
  { name: 'create a ConfigMap', method: 'POST', path: CM, body: cm('one', { a: '1' }) },
  { name: 'create it again', method: 'POST', path: CM, body: cm('one', { a: '1' }) },
  { name: 'get a missing object', method: 'GET', path: `${CM}/missing` },
  {
    name: 'create with a name that is not a DNS label',
    method: 'POST',
    path: CM,
    body: cm('Not_Valid', {}),
  },
  {
    name: 'create in a namespace that does not exist',
    method: 'POST',
    path: '/api/v1/namespaces/no-such-namespace-parity/configmaps',
    body: cm('x', {}),
  },
  { name: 'Ingress: valid', method: 'POST', path: ING, body: ingress('valid', '/', 'Prefix') },
  { name: 'Ingress: relative path', method: 'POST', path: ING, body: ingress('rel', 'api', 'Prefix') },
  {
    name: 'Ingress: unknown pathType',
    method: 'POST',
    path: ING,
    body: ingress('badtype', '/', 'Regex'),
  },
  {
    name: 'Ingress: regex characters in an Exact path',
    method: 'POST',
    path: ING,
    body: ingress('regex', '/api/(.*)', 'Exact'),
  },
  {
    name: 'Ingress: wildcard host not in the first label',
    method: 'POST',
    path: ING,
    body: {
      ...ingress('wild', '/', 'Prefix'),
      spec: {
        rules: [
          {
            host: 'a.*.example.com',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 'web', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    },
  },
  {
    name: 'Ingress: backend with neither port number nor name',
    method: 'POST',
    path: ING,
    body: {
      ...ingress('noport', '/', 'Prefix'),
      spec: {
        rules: [
          {
            host: 'p.example.com',
            http: {
              paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: {} } } }],
            },
          },
        ],
      },
    },
  },
  {
    name: 'Ingress: port number out of range',
    method: 'POST',
    path: ING,
    body: {
      ...ingress('bigport', '/', 'Prefix'),
      spec: {
        rules: [
          {
            host: 'p.example.com',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 'web', port: { number: 70000 } } },
                },
              ],
            },
          },
        ],
      },
    },
  },
  {
    name: 'dry run create leaves nothing',
    method: 'POST',
    path: `${CM}?dryRun=All`,
    body: cm('dry', { a: '1' }),
    show: { path: `${CM}/dry`, fields: ['kind', 'data'] },
  },
  {
    name: 'server-side apply creates',
    method: 'PATCH',
    path: `${CM}/applied?fieldManager=alice`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: '1' } },
    contentType: 'application/apply-patch+yaml',
    show: { path: `${CM}/applied`, fields: ['data'] },
  },
  {
    name: 'server-side apply by a second manager, another field',
    method: 'PATCH',
    path: `${CM}/applied?fieldManager=bob`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { b: '2' } },
    contentType: 'application/apply-patch+yaml',
    show: { path: `${CM}/applied`, fields: ['data'] },
  },
  {
    name: 'server-side apply by a second manager, the same field',
    method: 'PATCH',
    path: `${CM}/applied?fieldManager=bob`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: 'bob' } },
    contentType: 'application/apply-patch+yaml',
  },
  {
    name: 'server-side apply with force takes the field',
    method: 'PATCH',
    path: `${CM}/applied?fieldManager=bob&force=true`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: 'bob' } },
    contentType: 'application/apply-patch+yaml',
    show: { path: `${CM}/applied`, fields: ['data'] },
  },
  {
    name: 'merge patch',
    method: 'PATCH',
    path: `${CM}/one`,
    body: { data: { b: '2' } },
    contentType: 'application/merge-patch+json',
    show: { path: `${CM}/one`, fields: ['data'] },
  },
  {
    name: 'JSON patch with a failing test op',
    method: 'PATCH',
    path: `${CM}/one`,
    body: [{ op: 'test', path: '/data/a', value: 'nope' }],
    contentType: 'application/json-patch+json',
  },
  {
    name: 'strategic merge patch',
    method: 'PATCH',
    path: `${CM}/one`,
    body: { data: { c: '3' } },
    contentType: 'application/strategic-merge-patch+json',
    show: { path: `${CM}/one`, fields: ['data'] },
  },
  {
    name: 'update with a stale resourceVersion',
    method: 'PUT',
    path: `${CM}/one`,
    body: { ...cm('one', { a: '9' }), metadata: { name: 'one', resourceVersion: '1' } },
  },
  {
    name: 'PUT of Ingress status with a bare metadata',
    method: 'PUT',
    path: `${ING}/valid/status`,
    body: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'valid' },
      status: { loadBalancer: { ingress: [{ hostname: 't.cfargotunnel.com' }] } },
    },
    show: { path: `${ING}/valid`, fields: ['metadata.annotations', 'metadata.labels', 'status'] },
  },
  { name: 'field selector on metadata.name', method: 'GET', path: `${CM}?fieldSelector=metadata.name%3Done` },
  {
    name: 'field selector on an unsupported field',
    method: 'GET',
    path: `${CM}?fieldSelector=data.a%3D1`,
  },
  {
    name: 'EndpointSlice with a loopback address',
    method: 'POST',
    path: '/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices',
    body: {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'loop', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      endpoints: [{ addresses: ['127.0.0.1'] }],
    },
  },
  { name: 'list Deployments (apps/v1)', method: 'GET', path: '/apis/apps/v1/namespaces/NS/deployments' },
  { name: 'list Pods', method: 'GET', path: '/api/v1/namespaces/NS/pods' },
  {
    name: 'list CustomResourceDefinitions',
    method: 'GET',
    path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  },
  {
    name: 'watch from resourceVersion 1',
    method: 'GET',
    path: `${CM}?watch=true&resourceVersion=1`,
    watchMs: 1500,
  },
  {
    name: 'dry run delete leaves it',
    method: 'DELETE',
    path: `${CM}/one?dryRun=All`,
    show: { path: `${CM}/one`, fields: ['kind', 'metadata.name'] },
  },
  { name: 'delete', method: 'DELETE', path: `${CM}/one` },
  { name: 'delete again', method: 'DELETE', path: `${CM}/one` },
  {
    name: 'a ConfigMap owned by a deleted owner',
    method: 'POST',
    path: CM,
    body: {
      ...cm('orphan', {}),
      metadata: {
        name: 'orphan',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'one', uid: '00000000-0000-0000-0000-000000000001' },
        ],
      },
    },
    goneWithinMs: 10_000,
    show: { path: `${CM}/orphan`, fields: ['kind', 'metadata.name'] },
  },
  {
    name: 'delete the namespace',
    method: 'DELETE',
    path: '/api/v1/namespaces/NS',
    show: { path: '/api/v1/namespaces/NS', fields: ['status.phase'] },
  },
  {
    name: 'create in a namespace being deleted',
    method: 'POST',
    path: CM,
    body: cm('late', {}),
  },
];
