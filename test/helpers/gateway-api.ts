import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { goBinary } from '../kube/go-build.js';
import { ROOT } from './processes.js';

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
