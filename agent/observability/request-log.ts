/** A request as /requests and the dashboard show it. */
export interface RequestRecord {
  time: string;
  method: string;
  host: string;
  path: string;
  status: number;
  durationMs: number;
  /** the endpoint that answered, or "agent" for the agent's own 404/503 */
  endpoint: string;
  bytesIn: number;
  bytesOut: number;
  ray: string;
  /** set when the origin failed */
  error?: string;
}

/** What the log takes from a finished request (the pipeline's RequestContext is one). */
export interface FinishedRequest {
  readonly at: number;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly status: number;
  readonly endpoint: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ray: string;
  readonly error: string | undefined;
}

/**
 * The last requests the agent proxied, newest last, for /requests and the dashboard. A fixed ring of
 * columns: adding a request copies a few fields into preallocated slots and builds no object, so the
 * hot path pays nothing for a view that is read rarely; records (with their formatted time) are made
 * when read, and for subscribers only while there are some (the dashboard's live stream).
 */
export class RequestLog {
  private next = 0;
  private size = 0;
  private readonly at: Float64Array;
  private readonly durationMs: Float64Array;
  private readonly bytesIn: Float64Array;
  private readonly bytesOut: Float64Array;
  private readonly status: Uint16Array;
  private readonly strings: string[];
  private readonly errors: Array<string | undefined>;
  private readonly listeners = new Set<(r: RequestRecord) => void>();

  constructor(readonly capacity = 1000) {
    this.at = new Float64Array(capacity);
    this.durationMs = new Float64Array(capacity);
    this.bytesIn = new Float64Array(capacity);
    this.bytesOut = new Float64Array(capacity);
    this.status = new Uint16Array(capacity);
    this.strings = new Array<string>(capacity * STRINGS).fill('');
    this.errors = new Array<string | undefined>(capacity).fill(undefined);
  }

  add(r: FinishedRequest, durationMs: number): void {
    const i = this.next;
    this.at[i] = r.at;
    this.durationMs[i] = durationMs;
    this.bytesIn[i] = r.bytesIn;
    this.bytesOut[i] = r.bytesOut;
    this.status[i] = r.status;
    const s = this.strings;
    const o = i * STRINGS;
    s[o] = r.method;
    s[o + 1] = r.authority;
    s[o + 2] = r.path;
    s[o + 3] = r.endpoint;
    s[o + 4] = r.ray;
    this.errors[i] = r.error;
    this.next = (i + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    if (this.listeners.size > 0) {
      const record = this.record(i);
      for (const l of this.listeners) l(record);
    }
  }

  /** Oldest first. */
  recent(): RequestRecord[] {
    const out: RequestRecord[] = [];
    const first = (this.next - this.size + this.capacity) % this.capacity;
    for (let k = 0; k < this.size; k++) out.push(this.record((first + k) % this.capacity));
    return out;
  }

  /** Called with each request as it is added; returns the unsubscribe function. */
  subscribe(l: (r: RequestRecord) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private record(i: number): RequestRecord {
    const s = this.strings;
    const o = i * STRINGS;
    const error = this.errors[i];
    return {
      time: new Date(this.at[i] as number).toISOString(),
      method: s[o] as string,
      host: s[o + 1] as string,
      path: s[o + 2] as string,
      status: this.status[i] as number,
      durationMs: this.durationMs[i] as number,
      endpoint: s[o + 3] as string,
      bytesIn: this.bytesIn[i] as number,
      bytesOut: this.bytesOut[i] as number,
      ray: s[o + 4] as string,
      ...(error === undefined ? {} : { error }),
    };
  }
}

/** method, host, path, endpoint, ray */
const STRINGS = 5;
