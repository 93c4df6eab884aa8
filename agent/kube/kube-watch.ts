import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { Watch } from '@kubernetes/client-node';

/**
 * The watch request under the agent's informers: client-node's ListWatch with this in place of its
 * own Watch, for two things the original gets wrong.
 *
 * - A watch cut off mid-body: client-node reads it through node-fetch, which never reports a body
 *   that stops short of its Content-Length when the server closes the connection (no error, no
 *   close), so the informer waited until the quiet timer. Here the response's own close ends it.
 * - A watch the ListWatch aborts itself (it does so whenever it starts the next one, or stops): the
 *   original then reports an AbortError as a failure, which restarted the informer and aborted the
 *   watch that had replaced it. Here an aborted watch reports nothing.
 *
 * Everything else is as client-node does it: the kubeconfig's TLS and credentials
 * (`applyToHTTPSOptions`), `watch=true` with the query the ListWatch gives, one JSON event per line,
 * a non-200 answer as an error carrying its `statusCode` (410 makes the ListWatch relist).
 */
export class KubeWatch extends Watch {
  override async watch(
    path: string,
    queryParams: Parameters<Watch['watch']>[1],
    callback: Parameters<Watch['watch']>[2],
    done: Parameters<Watch['watch']>[3],
  ): Promise<AbortController> {
    const cluster = this.config.getCurrentCluster();
    if (cluster === null) throw new Error('No currently active cluster');
    const url = new URL(cluster.server + path);
    url.searchParams.set('watch', 'true');
    for (const [key, val] of Object.entries(queryParams ?? {}))
      if (val !== undefined) url.searchParams.set(key, String(val));
    const opts: https.RequestOptions = { method: 'GET' };
    await this.config.applyToHTTPSOptions(opts);
    const controller = new AbortController();
    let finished = false;
    const finish = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      req.destroy();
      if (!controller.signal.aborted) done(err);
    };
    const req = (url.protocol === 'http:' ? http : https).request(url, opts, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        finish(
          Object.assign(new Error(res.statusMessage ?? `HTTP ${res.statusCode ?? 0}`), {
            statusCode: res.statusCode,
          }),
        );
        return;
      }
      res.setEncoding('utf8');
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (finished) return;
        let data: { type: string; object: unknown };
        try {
          data = JSON.parse(line) as { type: string; object: unknown };
        } catch {
          return; // not an event: skipped, as client-node does
        }
        callback(data.type, data.object, data);
      });
      // readline passes its input's errors on as its own: both need a listener.
      lines.on('error', (err) => finish(err));
      res.on('error', (err) => finish(err));
      res.on('close', () => finish(res.complete ? null : new Error('the watch was cut off before its end')));
    });
    req.on('error', (err) => finish(err));
    controller.signal.addEventListener('abort', () => finish(null));
    req.end();
    return controller;
  }
}
