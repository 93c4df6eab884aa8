import { FrameDecoder } from '../capnp/framing.js';
import { MessageReader, type StructReader } from '../capnp/reader.js';
import { TunnelError, type ErrorSource } from '../errors.js';
import {
  CAP_SENDER_HOSTED,
  CAP_SENDER_PROMISE,
  EMPTY_CONTENT,
  ExceptionType,
  MessageTag,
  decodeRpcMessage,
  encodeAbort,
  encodeBootstrap,
  encodeCall,
  encodeFinish,
  encodeRelease,
  encodeReturnCapability,
  encodeReturnException,
  encodeReturnResults,
  encodeUnimplemented,
  type ContentWriter,
  type MessageTarget,
  type RpcMessage,
} from './messages.js';

/**
 * One Cap'n Proto RPC connection over one byte stream, playing either role or both: it can host a
 * bootstrap capability (the edge's RegistrationServer, the agent's CloudflaredServer) and call the
 * peer's. Question and export ids start at 0 per connection and are reused after Finish, as
 * go-capnproto2 does.
 */
export interface RpcServer {
  /** Resolves with the results to send, or rejects to send an exception Return. */
  call(interfaceId: bigint, methodId: number, params: StructReader | null): Promise<ContentWriter>;
}

export interface RpcConnectionOptions {
  send(frame: Buffer): void;
  /** Called once, when the connection ends for any reason. */
  onClose?(err: Error | null): void;
  bootstrap?: RpcServer;
  /** Who is on the other side, for error attribution. */
  peer: ErrorSource;
  maxMessageBytes?: number;
}

export interface CallResult {
  content: StructReader | null;
}

interface Question {
  resolve(r: CallResult): void;
  reject(e: Error): void;
  /** for a bootstrap question: the import id once its Return arrives */
  onCapability?(importId: number): void;
}

/** A capability of the peer's: a bootstrap question that may not be answered yet. */
export class RemoteCapability {
  importId: number | null = null;
  constructor(readonly questionId: number) {}

  target(): MessageTarget {
    return this.importId !== null
      ? { kind: 'importedCap', id: this.importId }
      : { kind: 'promisedAnswer', questionId: this.questionId, transform: [] };
  }
}

export class RpcConnection {
  private readonly decoder: FrameDecoder;
  private readonly questions = new Map<number, Question>();
  private nextQuestion = 0;
  private readonly freeQuestions: number[] = [];
  /** answers we owe or hold: bootstrap answers map to the export they returned */
  private readonly answers = new Map<number, { exportId: number | null }>();
  private readonly exports = new Map<number, { server: RpcServer; refs: number }>();
  private closed = false;

  constructor(private readonly options: RpcConnectionOptions) {
    this.decoder = new FrameDecoder({
      maxBytes: options.maxMessageBytes ?? 8 * 1024 * 1024,
      source: options.peer,
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Feeds bytes from the stream. A protocol violation aborts the connection (never throws). */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.decoder.push(chunk);
      for (let segs = this.decoder.next(); segs !== null; segs = this.decoder.next()) {
        const msg = new MessageReader(segs, { source: this.options.peer });
        this.dispatch(decodeRpcMessage(msg));
        if (this.closed) return;
      }
    } catch (err) {
      const e =
        err instanceof TunnelError
          ? err
          : new TunnelError('RPC_PROTOCOL', `RPC protocol error: ${String(err)}`, {
              source: this.options.peer,
              cause: err,
            });
      this.abort(e.message, e);
    }
  }

  /** Asks the peer for its bootstrap capability; calls on it may be made before the answer comes. */
  bootstrap(): RemoteCapability {
    const qid = this.allocQuestion();
    const cap = new RemoteCapability(qid);
    this.questions.set(qid, {
      resolve: () => {},
      reject: () => {},
      onCapability: (importId) => {
        cap.importId = importId;
      },
    });
    this.send(encodeBootstrap(qid));
    return cap;
  }

  call(
    cap: RemoteCapability,
    interfaceId: bigint,
    methodId: number,
    params: ContentWriter = EMPTY_CONTENT,
  ): Promise<CallResult> {
    if (this.closed) return Promise.reject(this.closedError());
    const qid = this.allocQuestion();
    return new Promise<CallResult>((resolve, reject) => {
      this.questions.set(qid, { resolve, reject });
      this.send(encodeCall(qid, cap.target(), interfaceId, methodId, params));
    });
  }

  /** Drops our reference to a capability the peer exported. */
  release(cap: RemoteCapability): void {
    if (cap.importId !== null && !this.closed) this.send(encodeRelease(cap.importId, 1));
    cap.importId = null;
  }

  /** Sends Abort and ends the connection; pending questions fail. */
  abort(reason: string, err: Error | null = null): void {
    if (this.closed) return;
    try {
      this.options.send(encodeAbort(reason));
    } catch {
      // The stream may already be gone; the close below is what matters.
    }
    this.finish(err ?? new TunnelError('RPC_ABORTED', reason, { source: 'internal' }));
  }

  /** The stream ended underneath us. */
  streamClosed(err: Error | null = null): void {
    this.finish(err ?? this.closedError());
  }

  private closedError(): TunnelError {
    return new TunnelError('RPC_CLOSED', 'RPC connection closed', { source: this.options.peer });
  }

  private finish(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    const pending = [...this.questions.values()];
    this.questions.clear();
    const e = err ?? this.closedError();
    for (const q of pending) q.reject(e);
    this.options.onClose?.(err);
  }

  private send(frame: Buffer): void {
    if (!this.closed) this.options.send(frame);
  }

  private allocQuestion(): number {
    return this.freeQuestions.pop() ?? this.nextQuestion++;
  }

  private dispatch(m: RpcMessage): void {
    switch (m.tag) {
      case MessageTag.Bootstrap:
        return this.onBootstrap(m.questionId);
      case MessageTag.Call:
        return this.onCall(m);
      case MessageTag.Return:
        return this.onReturn(m);
      case MessageTag.Finish:
        this.answers.delete(m.questionId);
        return;
      case MessageTag.Release: {
        const exp = this.exports.get(m.id);
        if (exp !== undefined) {
          exp.refs -= m.referenceCount;
          if (exp.refs <= 0) this.exports.delete(m.id);
        }
        return;
      }
      case MessageTag.Abort:
        this.finish(
          new TunnelError('RPC_PEER_ABORTED', `peer aborted the RPC connection: ${m.reason}`, {
            source: this.options.peer,
          }),
        );
        return;
      case MessageTag.Unimplemented:
        return this.onUnimplemented(m.inner);
      default:
        this.send(encodeUnimplemented(m.root));
    }
  }

  private onBootstrap(qid: number): void {
    if (this.answers.has(qid)) throw this.protocolError(`question ${qid} reused before Finish`);
    const server = this.options.bootstrap;
    if (server === undefined) {
      this.answers.set(qid, { exportId: null });
      this.send(encodeReturnException(qid, 'no bootstrap capability', ExceptionType.Failed));
      return;
    }
    // One export for the bootstrap capability, counted once per reference handed out.
    const exportId = 0;
    const exp = this.exports.get(exportId);
    if (exp === undefined) this.exports.set(exportId, { server, refs: 1 });
    else exp.refs++;
    this.answers.set(qid, { exportId });
    this.send(encodeReturnCapability(qid, exportId));
  }

  private onCall(m: Extract<RpcMessage, { tag: MessageTag.Call }>): void {
    if (this.answers.has(m.questionId))
      throw this.protocolError(`question ${m.questionId} reused before Finish`);
    this.answers.set(m.questionId, { exportId: null });
    let exportId: number | null = null;
    if (m.target.kind === 'importedCap') exportId = m.target.id;
    else if (m.target.transform.every((op) => op === -1))
      exportId = this.answers.get(m.target.questionId)?.exportId ?? null;
    const server = exportId === null ? undefined : this.exports.get(exportId)?.server;
    if (server === undefined) {
      this.send(
        encodeReturnException(m.questionId, 'call target is not a known capability', ExceptionType.Failed),
      );
      return;
    }
    const qid = m.questionId;
    server.call(m.interfaceId, m.methodId, m.params).then(
      (results) => this.send(encodeReturnResults(qid, results)),
      (err: unknown) => {
        const unimplemented = err instanceof TunnelError && err.code === 'RPC_UNIMPLEMENTED';
        this.send(
          encodeReturnException(
            qid,
            err instanceof Error ? err.message : String(err),
            unimplemented ? ExceptionType.Unimplemented : ExceptionType.Failed,
          ),
        );
      },
    );
  }

  private onReturn(m: Extract<RpcMessage, { tag: MessageTag.Return }>): void {
    const q = this.questions.get(m.answerId);
    if (q === undefined) throw this.protocolError(`Return for unknown question ${m.answerId}`);
    this.questions.delete(m.answerId);
    if (q.onCapability !== undefined) {
      // A bootstrap answer: keep the capability (releaseResultCaps=false), as cloudflared does.
      if (m.kind === 'results' && m.contentCap !== null) {
        const d = m.capTable[m.contentCap];
        if (d !== undefined && (d.tag === CAP_SENDER_HOSTED || d.tag === CAP_SENDER_PROMISE))
          q.onCapability(d.id);
      }
      this.send(encodeFinish(m.answerId, false));
      this.freeQuestions.push(m.answerId);
      return;
    }
    this.send(encodeFinish(m.answerId, false));
    this.freeQuestions.push(m.answerId);
    if (m.kind === 'results') q.resolve({ content: m.content });
    else if (m.kind === 'exception') {
      q.reject(
        new TunnelError('RPC_EXCEPTION', `remote exception: ${m.reason}`, { source: this.options.peer }),
      );
    } else
      q.reject(
        new TunnelError('RPC_CANCELED', `call ended without results (${m.which})`, {
          source: this.options.peer,
        }),
      );
  }

  private onUnimplemented(inner: StructReader | null): void {
    // Our own message came back: fail the question it carried, if any.
    if (inner === null || inner.u16(0) !== MessageTag.Call) return;
    const qid = inner.struct(0)?.u32(0);
    if (qid === undefined) return;
    const q = this.questions.get(qid);
    if (q === undefined) return;
    this.questions.delete(qid);
    this.freeQuestions.push(qid);
    q.reject(
      new TunnelError('RPC_UNIMPLEMENTED', 'peer does not implement the call', { source: this.options.peer }),
    );
  }

  private protocolError(message: string): TunnelError {
    return new TunnelError('RPC_PROTOCOL', `RPC protocol error: ${message}`, { source: this.options.peer });
  }
}
