import { MessageBuilder, type StructBuilder } from '../capnp/builder.js';
import type { MessageReader, StructReader } from '../capnp/reader.js';

/**
 * rpc.capnp messages, level 0 plus calls pipelined on an unanswered bootstrap: the subset that
 * go-capnproto2 (cloudflared) uses. Layouts from the spec, §5.
 */
export const enum MessageTag {
  Unimplemented = 0,
  Abort = 1,
  Call = 2,
  Return = 3,
  Finish = 4,
  Resolve = 5,
  Release = 6,
  Bootstrap = 8,
  Disembargo = 13,
}

export const enum ExceptionType {
  Failed = 0,
  Overloaded = 1,
  Disconnected = 2,
  Unimplemented = 3,
}

export type MessageTarget =
  { kind: 'importedCap'; id: number } | { kind: 'promisedAnswer'; questionId: number; transform: number[] };

export interface CapDescriptor {
  tag: number;
  id: number;
}

export type RpcMessage =
  | { tag: MessageTag.Bootstrap; questionId: number }
  | {
      tag: MessageTag.Call;
      questionId: number;
      interfaceId: bigint;
      methodId: number;
      target: MessageTarget;
      sendResultsTo: number;
      params: StructReader | null;
    }
  | {
      tag: MessageTag.Return;
      answerId: number;
      kind: 'results';
      content: StructReader | null;
      contentCap: number | null;
      capTable: CapDescriptor[];
    }
  | { tag: MessageTag.Return; answerId: number; kind: 'exception'; reason: string; type: number }
  | { tag: MessageTag.Return; answerId: number; kind: 'other'; which: number }
  | { tag: MessageTag.Finish; questionId: number; releaseResultCaps: boolean }
  | { tag: MessageTag.Release; id: number; referenceCount: number }
  | { tag: MessageTag.Abort; reason: string; type: number }
  | { tag: MessageTag.Unimplemented; inner: StructReader | null }
  | { tag: 'unknown'; which: number; root: StructReader };

export const CAP_SENDER_HOSTED = 1;
export const CAP_SENDER_PROMISE = 2;

function readException(s: StructReader | null): { reason: string; type: number } {
  return { reason: s?.text(0) ?? '', type: s?.u16(4) ?? 0 };
}

export function decodeRpcMessage(msg: MessageReader): RpcMessage {
  const root = msg.root();
  const tag = root.u16(0);
  switch (tag) {
    case MessageTag.Bootstrap: {
      const b = root.struct(0);
      return { tag, questionId: b?.u32(0) ?? 0 };
    }
    case MessageTag.Call: {
      const c = root.struct(0);
      if (c === null) msg.fail('Call without a body');
      const t = c.struct(0);
      if (t === null) msg.fail('Call without a target');
      let target: MessageTarget;
      if (t.u16(4) === 0) {
        target = { kind: 'importedCap', id: t.u32(0) };
      } else if (t.u16(4) === 1) {
        const pa = t.struct(0);
        const transform: number[] = [];
        const ops = pa?.list(0) ?? null;
        if (ops !== null) {
          for (let i = 0; i < ops.length; i++) {
            const op = ops.struct(i);
            transform.push(op.u16(0) === 0 ? -1 : op.u16(2));
          }
        }
        target = { kind: 'promisedAnswer', questionId: pa?.u32(0) ?? 0, transform };
      } else {
        msg.fail(`unknown MessageTarget ${t.u16(4)}`);
      }
      const payload = c.struct(1);
      return {
        tag,
        questionId: c.u32(0),
        methodId: c.u16(4),
        sendResultsTo: c.u16(6),
        interfaceId: c.u64(8),
        target,
        params: payload?.struct(0) ?? null,
      };
    }
    case MessageTag.Return: {
      const r = root.struct(0);
      if (r === null) msg.fail('Return without a body');
      const answerId = r.u32(0);
      const which = r.u16(6);
      if (which === 0) {
        const payload = r.struct(0);
        const capTable: CapDescriptor[] = [];
        const caps = payload?.list(1) ?? null;
        if (caps !== null) {
          for (let i = 0; i < caps.length; i++) {
            const d = caps.struct(i);
            capTable.push({ tag: d.u16(0), id: d.u32(4) });
          }
        }
        const kind = payload?.pointerKind(0) ?? null;
        return {
          tag,
          answerId,
          kind: 'results',
          content: kind === 0 ? (payload?.struct(0) ?? null) : null,
          contentCap: kind === 3 ? (payload?.capability(0) ?? null) : null,
          capTable,
        };
      }
      if (which === 1) return { tag, answerId, kind: 'exception', ...readException(r.struct(0)) };
      return { tag, answerId, kind: 'other', which };
    }
    case MessageTag.Finish: {
      const f = root.struct(0);
      return { tag, questionId: f?.u32(0) ?? 0, releaseResultCaps: !(f?.bool(32) ?? false) };
    }
    case MessageTag.Release: {
      const r = root.struct(0);
      return { tag, id: r?.u32(0) ?? 0, referenceCount: r?.u32(4) ?? 0 };
    }
    case MessageTag.Abort:
      return { tag, ...readException(root.struct(0)) };
    case MessageTag.Unimplemented:
      return { tag, inner: root.struct(0) };
    default:
      return { tag: 'unknown', which: tag, root };
  }
}

function messageRoot(mb: MessageBuilder, tag: MessageTag): StructBuilder {
  const root = mb.initRoot(1, 1);
  root.setU16(0, tag);
  return root;
}

export function encodeBootstrap(questionId: number): Buffer {
  const mb = new MessageBuilder(8);
  messageRoot(mb, MessageTag.Bootstrap).initStruct(0, 1, 1).setU32(0, questionId);
  return mb.toFrame();
}

export interface ContentWriter {
  /** data words and pointers of the params or results struct */
  readonly dataWords: number;
  readonly ptrCount: number;
  write(sb: StructBuilder): void;
}

export const EMPTY_CONTENT: ContentWriter = { dataWords: 0, ptrCount: 0, write() {} };

export function encodeCall(
  questionId: number,
  target: MessageTarget,
  interfaceId: bigint,
  methodId: number,
  params: ContentWriter,
): Buffer {
  const mb = new MessageBuilder(32);
  const call = messageRoot(mb, MessageTag.Call).initStruct(0, 3, 3);
  call.setU32(0, questionId);
  call.setU16(4, methodId);
  call.setU16(6, 0);
  call.setU64(8, interfaceId);
  const t = call.initStruct(0, 1, 1);
  if (target.kind === 'importedCap') {
    t.setU32(0, target.id);
    t.setU16(4, 0);
  } else {
    t.setU16(4, 1);
    const pa = t.initStruct(0, 1, 1);
    pa.setU32(0, target.questionId);
    const ops = pa.initStructList(0, target.transform.length, 1, 0);
    target.transform.forEach((field, i) => {
      const op = ops[i] as StructBuilder;
      if (field >= 0) {
        op.setU16(0, 1);
        op.setU16(2, field);
      }
    });
  }
  const payload = call.initStruct(1, 0, 2);
  params.write(payload.initStruct(0, params.dataWords, params.ptrCount));
  return mb.toFrame();
}

function returnRoot(mb: MessageBuilder, answerId: number, which: number): StructBuilder {
  const ret = messageRoot(mb, MessageTag.Return).initStruct(0, 2, 1);
  ret.setU32(0, answerId);
  // releaseParamCaps defaults to true and is stored inverted: a zero bit means true.
  ret.setU16(6, which);
  return ret;
}

export function encodeReturnResults(answerId: number, results: ContentWriter): Buffer {
  const mb = new MessageBuilder(16);
  const payload = returnRoot(mb, answerId, 0).initStruct(0, 0, 2);
  results.write(payload.initStruct(0, results.dataWords, results.ptrCount));
  return mb.toFrame();
}

/** A Return whose content is a capability we host: the answer to Bootstrap. */
export function encodeReturnCapability(answerId: number, exportId: number): Buffer {
  const mb = new MessageBuilder(16);
  const payload = returnRoot(mb, answerId, 0).initStruct(0, 0, 2);
  payload.setCapability(0, 0);
  const caps = payload.initStructList(1, 1, 1, 1);
  const d = caps[0] as StructBuilder;
  d.setU16(0, CAP_SENDER_HOSTED);
  d.setU32(4, exportId);
  return mb.toFrame();
}

export function encodeReturnException(answerId: number, reason: string, type: ExceptionType): Buffer {
  const mb = new MessageBuilder(16);
  const ex = returnRoot(mb, answerId, 1).initStruct(0, 1, 1);
  ex.setText(0, reason);
  ex.setU16(4, type);
  return mb.toFrame();
}

export function encodeFinish(questionId: number, releaseResultCaps: boolean): Buffer {
  const mb = new MessageBuilder(8);
  const f = messageRoot(mb, MessageTag.Finish).initStruct(0, 1, 0);
  f.setU32(0, questionId);
  f.setBool(32, !releaseResultCaps);
  return mb.toFrame();
}

export function encodeRelease(id: number, referenceCount: number): Buffer {
  const mb = new MessageBuilder(8);
  const r = messageRoot(mb, MessageTag.Release).initStruct(0, 1, 0);
  r.setU32(0, id);
  r.setU32(4, referenceCount);
  return mb.toFrame();
}

export function encodeAbort(reason: string, type: ExceptionType = ExceptionType.Failed): Buffer {
  const mb = new MessageBuilder(8);
  const ex = messageRoot(mb, MessageTag.Abort).initStruct(0, 1, 1);
  ex.setText(0, reason);
  ex.setU16(4, type);
  return mb.toFrame();
}

/** Echoes a message we do not handle, as the protocol asks, so the peer can fail that one question. */
export function encodeUnimplemented(original: StructReader): Buffer {
  const mb = new MessageBuilder(16);
  const root = mb.initRoot(1, 1);
  root.setU16(0, MessageTag.Unimplemented);
  root.copyStruct(0, original);
  return mb.toFrame();
}
