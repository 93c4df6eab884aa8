import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { resourceKey, type KubeObject, type ResourceKind } from './resources.js';

/**
 * All objects, under one monotonic resourceVersion, with a bounded history of changes for watches.
 * Objects are stored as the server returns them and copied on the way in and out, so no caller can
 * change stored state by accident.
 */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  type: WatchEventType;
  resource: string;
  object: KubeObject;
}

export type WatchListener = (ev: StoredEvent) => void;

export class TooOldError extends Error {
  constructor(
    readonly requested: number,
    readonly oldest: number,
  ) {
    super(`too old resource version: ${requested} (${oldest})`);
  }
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? name : `${namespace}/${name}`;
}

export class Store {
  private rv = 1;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: StoredEvent[] = [];
  /** events up to this resourceVersion are no longer in the history */
  private compactedThrough = 1;
  private readonly listeners = new Map<string, Set<WatchListener>>();
  private persistTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly historyLimit = 20_000,
    private readonly statePath?: string,
  ) {}

  get resourceVersion(): number {
    return this.rv;
  }

  table(resource: string): Map<string, KubeObject> {
    let t = this.objects.get(resource);
    if (t === undefined) {
      t = new Map();
      this.objects.set(resource, t);
    }
    return t;
  }

  get(r: ResourceKind, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.table(resourceKey(r)).get(objectKey(r.namespaced ? namespace : undefined, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Stored objects of a kind (not copies: callers must not change them), sorted by key. */
  list(r: ResourceKind, namespace: string | undefined): KubeObject[] {
    const t = this.table(resourceKey(r));
    const out: KubeObject[] = [];
    const keys = [...t.keys()].sort();
    for (const k of keys) {
      const o = t.get(k) as KubeObject;
      if (namespace !== undefined && r.namespaced && o.metadata?.namespace !== namespace) continue;
      out.push(o);
    }
    return out;
  }

  /** Writes an object (create or update) and records the event; returns the stored copy. */
  put(r: ResourceKind, obj: KubeObject, type: 'ADDED' | 'MODIFIED'): KubeObject {
    const meta = obj.metadata ?? (obj.metadata = {});
    meta.resourceVersion = String(++this.rv);
    if (type === 'ADDED') {
      meta.uid ??= randomUUID();
      meta.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    }
    const stored = structuredClone(obj);
    const key = resourceKey(r);
    this.table(key).set(objectKey(r.namespaced ? meta.namespace : undefined, meta.name as string), stored);
    this.record({ rv: this.rv, type, resource: key, object: stored });
    return structuredClone(stored);
  }

  remove(r: ResourceKind, obj: KubeObject): KubeObject {
    const key = resourceKey(r);
    const meta = obj.metadata as NonNullable<KubeObject['metadata']>;
    this.table(key).delete(objectKey(r.namespaced ? meta.namespace : undefined, meta.name as string));
    const gone = structuredClone(obj);
    (gone.metadata as NonNullable<KubeObject['metadata']>).resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: key, object: gone });
    return structuredClone(gone);
  }

  private record(ev: StoredEvent): void {
    this.history.push(ev);
    if (this.history.length > this.historyLimit) {
      const drop = this.history.length - this.historyLimit;
      this.compactedThrough = (this.history[drop - 1] as StoredEvent).rv;
      this.history = this.history.slice(drop);
    }
    for (const l of this.listeners.get(ev.resource) ?? []) l(ev);
    this.schedulePersist();
  }

  /** Events of `resource` after `since`, or TooOldError when the history no longer reaches back there. */
  eventsSince(resource: string, since: number): StoredEvent[] {
    if (since < this.compactedThrough) throw new TooOldError(since, this.compactedThrough);
    const out: StoredEvent[] = [];
    for (const ev of this.history) if (ev.rv > since && ev.resource === resource) out.push(ev);
    return out;
  }

  subscribe(resource: string, l: WatchListener): () => void {
    let set = this.listeners.get(resource);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(resource, set);
    }
    set.add(l);
    return () => set.delete(l);
  }

  /** Forgets the history: a watch from any resourceVersion handed out so far now gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedThrough = ++this.rv;
  }

  private schedulePersist(): void {
    if (this.statePath === undefined || this.persistTimer !== null) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      void this.save();
    }, 200);
  }

  async save(): Promise<void> {
    if (this.statePath === undefined) return;
    const data = {
      rv: this.rv,
      objects: Object.fromEntries([...this.objects].map(([k, t]) => [k, [...t.values()]])),
    };
    await writeFile(this.statePath + '.tmp', JSON.stringify(data));
    await rename(this.statePath + '.tmp', this.statePath);
  }

  async load(resources: ResourceKind[]): Promise<boolean> {
    if (this.statePath === undefined) return false;
    let text: string;
    try {
      text = await readFile(this.statePath, 'utf8');
    } catch {
      return false;
    }
    const data = JSON.parse(text) as { rv: number; objects: Record<string, KubeObject[]> };
    const known = new Map(resources.map((r) => [resourceKey(r), r]));
    for (const [key, objs] of Object.entries(data.objects)) {
      const r = known.get(key);
      if (r === undefined) continue;
      for (const o of objs)
        this.table(key).set(
          objectKey(r.namespaced ? o.metadata?.namespace : undefined, o.metadata?.name as string),
          o,
        );
    }
    this.rv = data.rv;
    this.compactedThrough = data.rv;
    return true;
  }
}
