import type { CoreV1Api } from '@kubernetes/client-node';
import { decodeSecretData, encodeSecretData } from '../kube/secret-data.js';
import type { CredentialsSecret } from './tunnel-bootstrap.js';

/**
 * The two Secrets the Cloudflare side reads in Kubernetes mode, both in the agent's own namespace: the
 * API token (key `api-token`) and the tunnel's credentials, shared by every replica.
 */
function status(err: unknown): number | undefined {
  const e = err as { code?: number; statusCode?: number; response?: { statusCode?: number } };
  return e.code ?? e.statusCode ?? e.response?.statusCode;
}

export function credentialsSecret(core: CoreV1Api, namespace: string, name: string): CredentialsSecret {
  return {
    async read() {
      try {
        return decodeSecretData((await core.readNamespacedSecret({ name, namespace })).data);
      } catch (err) {
        if (status(err) === 404) return null;
        throw err;
      }
    },
    async create(data) {
      try {
        await core.createNamespacedSecret({
          namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'tunnel-ingress' } },
            type: 'Opaque',
            data: encodeSecretData(data),
          },
        });
        return true;
      } catch (err) {
        if (status(err) === 409) return false;
        throw err;
      }
    },
    async replace(data) {
      const current = await core.readNamespacedSecret({ name, namespace });
      await core.replaceNamespacedSecret({
        name,
        namespace,
        body: { ...current, data: encodeSecretData(data) },
      });
    },
  };
}

/** The API token from a Secret's `api-token` key; a clear error when it is missing. */
export async function readApiToken(core: CoreV1Api, namespace: string, name: string): Promise<string> {
  let data: Record<string, string>;
  try {
    data = decodeSecretData((await core.readNamespacedSecret({ name, namespace })).data);
  } catch (err) {
    const code = status(err);
    const hint =
      code === 403
        ? ': the ServiceAccount may not get it; grant get on this Secret by name (the chart does not, it passes the token as CLOUDFLARE_API_TOKEN)'
        : '';
    throw new Error(
      `cannot read the Secret ${namespace}/${name} for the Cloudflare API token (HTTP ${code ?? '?'})${hint}`,
      { cause: err },
    );
  }
  const token = data['api-token']?.trim();
  if (token === undefined || token === '')
    throw new Error(`the Secret ${namespace}/${name} has no api-token key`);
  return token;
}
