import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { ConfigError } from '../../common/errors.js';
import { statusOf } from './errors.js';

/**
 * Where the agent's Kubernetes credentials come from: --kubeconfig (or KUBECONFIG), else the pod's
 * service account when running in a cluster, else ~/.kube/config. A file that is missing, is not a
 * kubeconfig, or names no cluster fails here with one line naming the file and what is wrong with it,
 * instead of the client library's message (or a stack trace) later.
 */
function fail(message: string): never {
  throw new ConfigError('KUBECONFIG_INVALID', message);
}

function loadFile(kc: KubeConfig, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(
      code === 'ENOENT'
        ? `the kubeconfig ${file} does not exist`
        : `cannot read the kubeconfig ${file}: ${code ?? (err as Error).message}`,
    );
  }
  try {
    const doc = parse(text) as unknown;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
      fail(`the kubeconfig ${file} is not a YAML mapping`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    fail(`the kubeconfig ${file} is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  try {
    kc.loadFromString(text);
  } catch (err) {
    fail(`the kubeconfig ${file} is not a usable kubeconfig: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

export function loadKubeConfig(path: string | undefined): { kc: KubeConfig; source: string } {
  const kc = new KubeConfig();
  let source: string;
  if (path !== undefined && path !== '') {
    loadFile(kc, path);
    source = path;
  } else if (
    process.env.KUBERNETES_SERVICE_HOST !== undefined &&
    existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')
  ) {
    kc.loadFromCluster();
    source = 'in-cluster service account';
  } else {
    try {
      kc.loadFromDefault();
    } catch (err) {
      fail(
        `the default kubeconfig (KUBECONFIG or ~/.kube/config) is not usable: ${(err as Error).message.split('\n')[0] ?? ''}`,
      );
    }
    source = 'default kubeconfig';
  }
  const context = kc.getCurrentContext();
  if (context === '' || kc.getContextObject(context) === null)
    fail(
      `the kubeconfig ${source} has no current context: set current-context (kubectl config use-context NAME)`,
    );
  if (kc.getCurrentCluster() === null)
    fail(`the kubeconfig ${source}: its current context "${context}" names no cluster that the file defines`);
  if (kc.getCurrentUser() === null)
    fail(`the kubeconfig ${source}: its current context "${context}" names no user that the file defines`);
  return { kc, source };
}

/**
 * One call at start-up that needs the credentials: a 401 means they are wrong or expired, and nothing
 * the agent does later can work, so it stops with that said. Anything else (the API server not up yet,
 * a 403 the informers will report) is left to the usual retries.
 */
export async function checkCredentials(kc: KubeConfig, source: string): Promise<void> {
  try {
    await kc.makeApiClient(NetworkingV1Api).listIngressClass({ limit: 1 });
  } catch (err) {
    if (statusOf(err) !== 401) return;
    fail(
      `the Kubernetes API at ${kc.getCurrentCluster()?.server ?? '?'} refused the credentials from ${source} (401 Unauthorized): the token or client certificate of user "${kc.getCurrentUser()?.name ?? ''}" is wrong or expired`,
    );
  }
}
