import type http from 'node:http';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';

/**
 * Where test pods (origin processes) listen and what EndpointSlices name: this machine's own address
 * when the suite runs against the real API server, which refuses loopback endpoints
 * (test/kube/suite-target.ts), else 127.0.0.1.
 */
export const POD_IP = process.env.TI_POD_IP ?? '127.0.0.1';

/** Sample origins that count the requests they answer, for "who got this request" checks. */
export interface CountingOrigin {
  name: string;
  port: number;
  server: http.Server;
  hits: number;
  close(): Promise<void>;
}

export async function countingOrigin(name: string, host = POD_IP): Promise<CountingOrigin> {
  const { server, port } = await startEchoOrigin(name, 0, host);
  const o: CountingOrigin = {
    name,
    port,
    server,
    hits: 0,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  server.on('request', () => o.hits++);
  return o;
}

export function slice(
  name: string,
  service: string,
  port: number,
  endpoints: Array<{ ip?: string; ready?: boolean; terminating?: boolean }>,
  portName = 'http',
): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  labels: {kubernetes.io/service-name: ${service}}
addressType: IPv4
ports: [{name: "${portName}", port: ${port}, protocol: TCP}]
endpoints:
${endpoints.map((e) => `  - addresses: [${e.ip ?? POD_IP}]\n    conditions: {ready: ${e.ready ?? true}, serving: ${e.ready ?? true}, terminating: ${e.terminating ?? false}}`).join('\n')}
`;
}

export function service(name: string, portName = 'http', port = 80): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  ports: [{name: "${portName}", port: ${port}}]
`;
}

/** A Secret holding a PEM CA bundle under ca.crt, as the origin-ca-secret annotation names it. */
export function caSecret(name: string, caPem: string): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}}
stringData:
  ca.crt: ${JSON.stringify(caPem)}
`;
}

export const INGRESS_CLASS = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: cloudflare-tunnel
spec:
  controller: tunnel-ingress.dev/agent
`;

export function ingress(
  name: string,
  rules: Array<{ host?: string; paths: Array<[string, string, string]> }>,
  extra = '',
  annotations: Record<string, string> = {},
): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ${name}, annotations: ${JSON.stringify(annotations)}}
spec:
  ingressClassName: cloudflare-tunnel
${extra}  rules:
${rules
  .map(
    (r) => `    - ${r.host === undefined ? '' : `host: ${r.host}\n      `}http:
        paths:
${r.paths.map(([path, type, svc]) => `          - {path: "${path}", pathType: ${type}, backend: {service: {name: ${svc}, port: {name: http}}}}`).join('\n')}`,
  )
  .join('\n')}
`;
}
