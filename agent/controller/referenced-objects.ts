import type { CoreV1Api, KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ResourceWatch } from '../kube/resource-watch.js';
import { decodeSecretData } from '../kube/secret-data.js';
import { SECRET_PENDING, type SecretLookup } from '../routing/origin-options.js';

export const MAX_WATCHED_SECRETS = 1024;

/** Which kind of object: Secrets (base64 data) or ConfigMaps (plain data). */
export type ReferencedKind = 'secrets' | 'configmaps';

/**
 * The Secrets the routes use (origin CA bundles, HTTPS listeners' certificates), and only those, or
 * likewise the ConfigMaps (a BackendTLSPolicy's CA bundle): one watch per referenced object,
 * in its own namespace, narrowed by `fieldSelector=metadata.name=NAME`, as the kubelet watches the
 * Secrets its pods mount. Before, every Secret in the cluster was cached (tenants' Helm releases,
 * tokens, certificates) and each change to any of them rebuilt the route table. Now a Secret no
 * route names is never read, and a change rebuilds the routes only when it is one they use.
 *
 * The set is what the last compile asked for: `lookup` records each name, `retain` starts watches for
 * new names and stops those no longer named. A Secret not listed yet is `SECRET_PENDING`; its first
 * list (found or not) compiles the routes again. The number watched is bounded; past it, a name is
 * reported as missing (and its Ingress gets the usual Event) rather than watched.
 */
export class ReferencedObjects {
  private readonly watches = new Map<string, ResourceWatch<KubernetesObject>>();
  private readonly wanted = new Set<string>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly core: CoreV1Api,
    /** a watched Secret appeared, changed, went away, or was first listed */
    private readonly onChange: () => void,
    private readonly log: Logger,
    private readonly kind: ReferencedKind = 'secrets',
    private readonly max = MAX_WATCHED_SECRETS,
  ) {}

  get size(): number {
    return this.watches.size;
  }

  /** Restarts after failures, over the watches of the moment. */
  get restarts(): number {
    let n = 0;
    for (const w of this.watches.values()) n += w.restarts;
    return n;
  }

  /** For the route compiler: an object's data, SECRET_PENDING until it is known, undefined if absent. */
  readonly lookup: SecretLookup = (namespace, name) => {
    const key = `${namespace}/${name}`;
    this.wanted.add(key);
    const w = this.watches.get(key);
    if (w === undefined) return this.watches.size >= this.max ? undefined : SECRET_PENDING;
    if (!w.synced) return SECRET_PENDING;
    const o = w.list()[0] as { data?: Record<string, string> } | undefined;
    if (o === undefined) return undefined;
    return this.kind === 'secrets' ? decodeSecretData(o.data) : { ...o.data };
  };

  /** After a compile: watch exactly the Secrets it looked up (up to the bound), and forget the rest. */
  retain(): void {
    for (const [key, w] of this.watches)
      if (!this.wanted.has(key)) {
        this.watches.delete(key);
        void w.stop();
      }
    for (const key of this.wanted) {
      if (this.watches.has(key)) continue;
      if (this.watches.size >= this.max) {
        this.log.warn(
          { secret: key, max: this.max },
          `too many ${this.kind} referenced by routes; not watching more`,
        );
        break;
      }
      this.watches.set(key, this.watch(key));
    }
    this.wanted.clear();
  }

  private watch(key: string): ResourceWatch<KubernetesObject> {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const fieldSelector = `metadata.name=${name}`;
    const w = new ResourceWatch<KubernetesObject>(
      `${this.kind === 'secrets' ? 'secret' : 'configmap'} ${key}`,
      this.kc,
      `/api/v1/namespaces/${namespace}/${this.kind}`,
      async () => {
        const list =
          this.kind === 'secrets'
            ? await this.core.listNamespacedSecret({ namespace, fieldSelector })
            : await this.core.listNamespacedConfigMap({ namespace, fieldSelector });
        // Found or not, the routes that wait on it can now be compiled for good (once the informer has
        // taken the list in, hence the next turn of the loop).
        setImmediate(this.onChange);
        return list;
      },
      () => this.onChange(),
      this.log,
      undefined,
      fieldSelector,
    );
    w.start();
    return w;
  }

  async stop(): Promise<void> {
    const all = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(all.map((w) => w.stop()));
  }
}
