import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * Where the agent's Kubernetes credentials come from: --kubeconfig (or KUBECONFIG), else the pod's
 * service account when running in a cluster, else ~/.kube/config.
 */
export function loadKubeConfig(path: string | undefined): { kc: KubeConfig; source: string } {
  const kc = new KubeConfig();
  if (path !== undefined && path !== '') {
    kc.loadFromFile(path);
    return { kc, source: path };
  }
  if (
    process.env.KUBERNETES_SERVICE_HOST !== undefined &&
    existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')
  ) {
    kc.loadFromCluster();
    return { kc, source: 'in-cluster service account' };
  }
  kc.loadFromDefault();
  return { kc, source: 'default kubeconfig' };
}
