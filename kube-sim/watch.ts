import type { ServerResponse } from 'node:http';
import { apiVersionOf, resourceKey, type KubeObject, type ResourceKind } from './resources.js';
import type { Matcher } from './selectors.js';
import { ApiError } from './status.js';
import { TooOldError, type Store, type StoredEvent } from './store.js';
import { rowOf, tableOf } from './table.js';

export interface WatchOptions {
  store: Store;
  r: ResourceKind;
  namespace: string | undefined;
  match: Matcher;
  resourceVersion: string | null;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutSeconds: number;
  table: boolean;
  includeObject: string | null;
}

/**
 * One watch: a chunked stream of JSON events, one per line. It starts from a resourceVersion (replaying
 * the bounded history, or ERROR 410 when that is gone) or from now (ADDED for every current object),
 * turns selector transitions into ADDED/DELETED as the API server does, sends BOOKMARKs when asked and
 * ends after timeoutSeconds.
 */
export class WatchHub {
  private readonly active = new Set<ServerResponse>();

  get count(): number {
    return this.active.size;
  }

  /** Ends every open watch, as an API server restart or a network fault would. */
  dropAll(): number {
    const n = this.active.size;
    for (const res of this.active) res.destroy();
    this.active.clear();
    return n;
  }

  serve(res: ServerResponse, o: WatchOptions): void {
    const key = resourceKey(o.r);
    const inScope = (obj: KubeObject) =>
      !o.r.namespaced || o.namespace === undefined || obj.metadata?.namespace === o.namespace;
    const visible = new Set<string>();
    const idOf = (obj: KubeObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

    let replay: StoredEvent[] = [];
    const rv = o.resourceVersion;
    if (rv !== null && rv !== '' && rv !== '0') {
      const since = Number(rv);
      if (!Number.isInteger(since) || since < 0)
        throw new ApiError(400, 'BadRequest', `invalid resource version "${rv}"`);
      try {
        replay = o.store.eventsSince(key, since);
      } catch (err) {
        if (!(err instanceof TooOldError)) throw err;
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        const status = new ApiError(
          410,
          'Expired',
          `too old resource version: ${since} (${o.store.resourceVersion})`,
        ).toStatus();
        res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
        return;
      }
      // Objects that match now are taken to have been visible at the start.
      for (const obj of o.store.list(o.r, o.namespace)) if (o.match(obj)) visible.add(idOf(obj));
      for (const ev of replay) if (ev.type === 'ADDED') visible.delete(idOf(ev.object));
    }

    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-cache',
      'transfer-encoding': 'chunked',
    });
    // Clients wait for the response headers before they treat the watch as open; Node would hold them
    // back until the first event.
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    this.active.add(res);

    const send = (type: string, obj: KubeObject) => {
      let payload: unknown = obj;
      if (o.table && type !== 'BOOKMARK' && type !== 'ERROR') {
        const t = tableOf(o.r, [], String(obj.metadata?.resourceVersion ?? ''), o.includeObject);
        (t as { rows: unknown[] }).rows = [rowOf(o.r, obj, o.includeObject)];
        payload = t;
      }
      res.write(JSON.stringify({ type, object: payload }) + '\n');
    };

    const deliver = (ev: StoredEvent) => {
      const obj = ev.object;
      if (!inScope(obj)) return;
      const id = idOf(obj);
      const matches = o.match(obj);
      const was = visible.has(id);
      if (ev.type === 'DELETED') {
        if (was || matches) send('DELETED', obj);
        visible.delete(id);
        return;
      }
      if (matches) {
        visible.add(id);
        send(was ? 'MODIFIED' : 'ADDED', obj);
      } else if (was) {
        visible.delete(id);
        send('DELETED', obj);
      }
    };

    if (rv === null || rv === '' || rv === '0') {
      for (const obj of o.store.list(o.r, o.namespace)) {
        if (!o.match(obj)) continue;
        visible.add(idOf(obj));
        send('ADDED', obj);
      }
    } else {
      for (const ev of replay) deliver(ev);
    }
    const unsubscribe = o.store.subscribe(key, deliver);
    const bookmark = o.bookmarks
      ? setInterval(() => {
          send('BOOKMARK', {
            kind: o.r.kind,
            apiVersion: apiVersionOf(o.r),
            metadata: { resourceVersion: String(o.store.resourceVersion) },
          });
        }, o.bookmarkIntervalMs)
      : null;
    const cleanup = () => {
      unsubscribe();
      if (bookmark !== null) clearInterval(bookmark);
      clearTimeout(timeout);
      this.active.delete(res);
    };
    // The watch stops taking events when it ends, not when the socket closes later: an event in
    // between would be a write after end, which crashed kube-sim.
    const timeout = setTimeout(() => {
      cleanup();
      res.end();
    }, o.timeoutSeconds * 1000);
    res.on('close', cleanup);
  }
}
