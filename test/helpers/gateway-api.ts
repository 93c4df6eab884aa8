import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { goBinary } from '../kube/go-build.js';
import type { KubeProc } from './kube.js';
import { ROOT, waitUntil } from './processes.js';

/** The Gateway API release the tests install: its standard channel's CRDs, from the Go module proxy. */
export const GATEWAY_API = 'sigs.k8s.io/gateway-api@v1.6.3';

/**
 * The directory of the standard channel's CRDs (config/crd/standard) of GATEWAY_API, downloaded into
 * the Go module cache (the test bed's Go module proxy) if it is not there yet.
 */
export function gatewayApiCrds(): string {
  const go = goBinary();
  if (go === null) throw new Error('the Gateway API CRDs come from the Go module proxy, and there is no Go');
  const info = JSON.parse(
    execFileSync(go, ['mod', 'download', '-json', GATEWAY_API], {
      env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
      cwd: path.join(ROOT, 'test', 'kube', 'go'),
    }).toString(),
  ) as { Dir: string };
  return path.join(info.Dir, 'config', 'crd', 'standard');
}

/**
 * What a Gateway API test on the shared real API server starts with: the standard channel's CRDs
 * installed (and `crd` established), and a GatewayClass controllerName and class name of the test's
 * own (other tests' agents on the same server name others). The class's YAML is for the test to apply.
 */
export async function setUpGatewayApi(
  k: KubeProc,
  crd = 'httproutes',
): Promise<{ controller: string; className: string; gatewayClass: string }> {
  const crds = await k.kubectl(['apply', '--server-side', '-f', gatewayApiCrds()]);
  if (crds.code !== 0) throw new Error(`installing the Gateway API CRDs failed: ${crds.stderr}`);
  await k.kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=30s',
    `crd/${crd}.gateway.networking.k8s.io`,
  ]);
  const controller = `tunnel-ingress.dev/test-${k.namespace}`;
  const className = `ti-${k.namespace}`;
  return {
    controller,
    className,
    gatewayClass: `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: ${className}}
spec: {controllerName: ${controller}}
`,
  };
}

/** Status read as a user would, with kubectl's jsonpath; `cond` picks our entry of a shared list. */
export function statusReader(k: KubeProc, controller: string, list: 'parents' | 'ancestors' = 'parents') {
  const jsonpath = async (what: string, path: string) =>
    (await k.kubectl(['get', ...what.split(' '), '-o', `jsonpath=${path}`])).stdout;
  return {
    jsonpath,
    until: (what: string, path: string, want: string, label = `${what} ${want}`) =>
      waitUntil(async () => ((await jsonpath(what, path)) === want ? true : undefined), 15_000, label),
    cond: (type: string, field: string) =>
      `{.status.${list}[?(@.controllerName=="${controller}")].conditions[?(@.type=="${type}")].${field}}`,
  };
}
