import { POD_IP } from './origins.js';
import * as grpc from '@grpc/grpc-js';

/**
 * A gRPC service for tests, defined in code with JSON messages (no .proto needed): unary, server
 * streaming, client streaming and bidirectional calls, errors with trailing metadata, a trailers-only
 * error, and a slow call for deadlines.
 */
export interface Msg {
  text?: string;
  n?: number;
  fail?: boolean;
  delayMs?: number;
}

const ser = (m: Msg) => Buffer.from(JSON.stringify(m));
const de = (b: Buffer) => JSON.parse(b.toString()) as Msg;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${path}`,
  requestStream,
  responseStream,
  requestSerialize: ser,
  requestDeserialize: de,
  responseSerialize: ser,
  responseDeserialize: de,
  originalName: path,
});

export const ECHO_SERVICE = {
  Unary: method('Unary', false, false),
  Count: method('Count', false, true),
  Sum: method('Sum', true, false),
  Chat: method('Chat', true, true),
} as unknown as grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
export interface EchoClientT extends grpc.Client {
  Unary(
    req: Msg,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply: Msg) => void,
  ): grpc.ClientUnaryCall;
  Count(req: Msg): grpc.ClientReadableStream<Msg>;
  Sum(cb: (err: grpc.ServiceError | null, reply: Msg) => void): grpc.ClientWritableStream<Msg>;
  Chat(): grpc.ClientDuplexStream<Msg, Msg>;
}

function failure(code: grpc.status, details: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set('x-why', 'asked to fail');
  return Object.assign(new Error(details), { code, details, metadata }) as grpc.ServiceError;
}

export const echoHandlers: grpc.UntypedServiceImplementation = {
  Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    const reply = () => {
      if (call.request.fail === true) {
        cb(failure(grpc.status.INVALID_ARGUMENT, 'you asked for a failure: ünïcode ok'));
        return;
      }
      const md = new grpc.Metadata();
      md.set('x-server', 'echo');
      call.sendMetadata(md);
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'from-trailers');
      cb(
        null,
        { text: `${call.request.text ?? ''}|${String(call.metadata.get('x-client')[0] ?? '')}` },
        trailer,
      );
    };
    if ((call.request.delayMs ?? 0) > 0) setTimeout(reply, call.request.delayMs);
    else reply();
  },
  Count(call: grpc.ServerWritableStream<Msg, Msg>) {
    const n = call.request.n ?? 0;
    let i = 0;
    const tick = () => {
      if (call.cancelled) return;
      if (i === n) {
        call.end();
        return;
      }
      call.write({ n: i++ });
      setTimeout(tick, 5);
    };
    tick();
  },
  Sum(call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    let total = 0;
    let count = 0;
    call.on('data', (m: Msg) => {
      total += m.n ?? 0;
      count++;
    });
    call.on('end', () => cb(null, { n: total, text: `${count} messages` }));
  },
  Chat(call: grpc.ServerDuplexStream<Msg, Msg>) {
    call.on('data', (m: Msg) => call.write({ text: `echo:${m.text ?? ''}` }));
    call.on('end', () => call.end());
  },
};

export interface GrpcServer {
  port: number;
  /** calls the server received */
  calls: number;
  stop(): Promise<void>;
}

export async function startGrpcServer(
  credentials = grpc.ServerCredentials.createInsecure(),
): Promise<GrpcServer> {
  const server = new grpc.Server();
  const counted: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(echoHandlers)) {
    counted[name] = (...args: unknown[]) => {
      out.calls++;
      (fn as (...a: unknown[]) => void)(...args);
    };
  }
  server.addService(ECHO_SERVICE, counted);
  const port: number = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${POD_IP}:0`, credentials, (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  const out: GrpcServer = {
    port,
    calls: 0,
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
  return out;
}

/** A client for `host` (sent as :authority) through edge-sim's public address (http://HOST:PORT). */
export function echoClient(publicUrl: string, host: string): EchoClientT {
  return new EchoClient(publicUrl.replace('http://', ''), grpc.credentials.createInsecure(), {
    'grpc.default_authority': host,
  }) as unknown as EchoClientT;
}

export function unary(
  client: EchoClientT,
  req: Msg,
  opts: { deadlineMs?: number; metadata?: grpc.Metadata } = {},
): Promise<{ reply?: Msg; err?: grpc.ServiceError; headers?: grpc.Metadata; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const out: { reply?: Msg; err?: grpc.ServiceError; headers?: grpc.Metadata; trailers?: grpc.Metadata } =
      {};
    const call = client.Unary(
      req,
      opts.metadata ?? new grpc.Metadata(),
      { deadline: Date.now() + (opts.deadlineMs ?? 10_000) },
      (err, reply) => {
        if (err !== null) out.err = err;
        else out.reply = reply;
      },
    );
    call.on('metadata', (m: grpc.Metadata) => (out.headers = m));
    call.on('status', (s: grpc.StatusObject) => {
      out.trailers = s.metadata;
      resolve(out);
    });
  });
}
