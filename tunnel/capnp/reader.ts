import { TunnelError, type ErrorSource } from '../errors.js';

export interface ReaderOptions {
  /** Words that may be visited in all; Go's capnp uses 8 Mi words (64 MiB). */
  traversalLimitWords?: number;
  nestingLimit?: number;
  /** Who to blame for a malformed message. */
  source?: ErrorSource;
}

const ELEM_BITS = [0, 1, 8, 16, 32, 64, 64, 0] as const;
export const enum ElementSize {
  Void = 0,
  Bit = 1,
  Byte = 2,
  TwoBytes = 3,
  FourBytes = 4,
  EightBytes = 5,
  Pointer = 6,
  Composite = 7,
}

interface Resolved {
  seg: number;
  /** word index of the target in `seg` */
  target: number;
  lo: number;
  hi: number;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A bounds-checked reader for the Cap'n Proto wire format (unpacked, any number of segments, far
 * pointers). Every read is checked against its segment and counted against a traversal limit, so a
 * hostile message can neither read out of bounds nor make us walk the same words forever.
 */
export class MessageReader {
  readonly segments: readonly Buffer[];
  private traversalLeft: number;
  readonly nestingLimit: number;
  readonly source: ErrorSource;

  constructor(segments: readonly Buffer[], options: ReaderOptions = {}) {
    this.segments = segments;
    this.traversalLeft = options.traversalLimitWords ?? 8 * 1024 * 1024;
    this.nestingLimit = options.nestingLimit ?? 64;
    this.source = options.source ?? 'edge';
  }

  fail(message: string): never {
    throw new TunnelError('CAPNP_MALFORMED', `malformed Cap'n Proto message: ${message}`, {
      source: this.source,
    });
  }

  root(): StructReader {
    const seg0 = this.segments[0];
    if (seg0 === undefined || seg0.length < 8) this.fail('no root pointer');
    const s = this.readStructAt(0, 0, this.nestingLimit);
    if (s === null) this.fail('null root');
    return s;
  }

  /** Counts `words` against the traversal limit. */
  charge(words: number): void {
    this.traversalLeft -= words === 0 ? 1 : words;
    if (this.traversalLeft < 0) this.fail('traversal limit exceeded');
  }

  private segment(index: number): Buffer {
    const seg = this.segments[index];
    if (seg === undefined) this.fail(`segment ${index} does not exist`);
    return seg;
  }

  private checkRange(seg: number, startWord: number, words: number): void {
    const len = this.segment(seg).length / 8;
    if (startWord < 0 || words < 0 || startWord + words > len) {
      this.fail(`pointer out of bounds (segment ${seg}, word ${startWord}, ${words} words)`);
    }
  }

  /** Follows the pointer at `pos`, through far pointers, to its target. Null pointer → null. */
  resolve(seg: number, pos: number): Resolved | null {
    const buf = this.segment(seg);
    this.checkRange(seg, pos, 1);
    const lo = buf.readUInt32LE(pos * 8);
    const hi = buf.readUInt32LE(pos * 8 + 4);
    if (lo === 0 && hi === 0) return null;
    const kind = lo & 3;
    if (kind !== 2) {
      return { seg, target: pos + 1 + ((lo | 0) >> 2), lo, hi };
    }
    const double = (lo >>> 2) & 1;
    const padPos = lo >>> 3;
    const padSeg = hi;
    const pad = this.segment(padSeg);
    if (double === 0) {
      this.checkRange(padSeg, padPos, 1);
      const plo = pad.readUInt32LE(padPos * 8);
      const phi = pad.readUInt32LE(padPos * 8 + 4);
      if ((plo & 3) === 2) this.fail('far pointer lands on another far pointer');
      return { seg: padSeg, target: padPos + 1 + ((plo | 0) >> 2), lo: plo, hi: phi };
    }
    this.checkRange(padSeg, padPos, 2);
    const flo = pad.readUInt32LE(padPos * 8);
    const fhi = pad.readUInt32LE(padPos * 8 + 4);
    if ((flo & 3) !== 2 || ((flo >>> 2) & 1) !== 0) this.fail('bad double-far landing pad');
    const tlo = pad.readUInt32LE(padPos * 8 + 8);
    const thi = pad.readUInt32LE(padPos * 8 + 12);
    return { seg: fhi, target: flo >>> 3, lo: tlo, hi: thi };
  }

  readStructAt(seg: number, pos: number, depth: number): StructReader | null {
    const r = this.resolve(seg, pos);
    if (r === null) return null;
    if ((r.lo & 3) !== 0) this.fail('expected a struct pointer');
    if (depth <= 0) this.fail('nesting limit exceeded');
    const dataWords = r.hi & 0xffff;
    const ptrCount = r.hi >>> 16;
    this.checkRange(r.seg, r.target, dataWords + ptrCount);
    this.charge(dataWords + ptrCount);
    return new StructReader(
      this,
      r.seg,
      r.target * 8,
      dataWords * 8,
      r.target + dataWords,
      ptrCount,
      depth - 1,
    );
  }

  readListAt(seg: number, pos: number, depth: number): ListReader | null {
    const r = this.resolve(seg, pos);
    if (r === null) return null;
    if ((r.lo & 3) !== 1) this.fail('expected a list pointer');
    if (depth <= 0) this.fail('nesting limit exceeded');
    const elemSize = (r.hi & 7) as ElementSize;
    const count = r.hi >>> 3;
    if (elemSize === ElementSize.Composite) {
      const words = count;
      this.checkRange(r.seg, r.target, words + 1);
      const buf = this.segment(r.seg);
      const tlo = buf.readUInt32LE(r.target * 8);
      const thi = buf.readUInt32LE(r.target * 8 + 4);
      if ((tlo & 3) !== 0) this.fail('composite list tag is not a struct');
      const n = tlo >>> 2;
      const dataWords = thi & 0xffff;
      const ptrCount = thi >>> 16;
      const stride = dataWords + ptrCount;
      if (n * stride > words) this.fail('composite list elements overrun the list');
      this.charge(words === 0 ? n : words);
      return new ListReader(
        this,
        r.seg,
        (r.target + 1) * 8,
        n,
        elemSize,
        stride * 64,
        dataWords,
        ptrCount,
        depth - 1,
      );
    }
    const bits = ELEM_BITS[elemSize];
    const words = Math.ceil((count * bits) / 64);
    this.checkRange(r.seg, r.target, words);
    this.charge(elemSize === ElementSize.Void ? count : words);
    const dataWords = elemSize === ElementSize.Pointer ? 0 : bits === 64 ? 1 : 0;
    const ptrCount = elemSize === ElementSize.Pointer ? 1 : 0;
    return new ListReader(this, r.seg, r.target * 8, count, elemSize, bits, dataWords, ptrCount, depth - 1);
  }

  readBytesAt(seg: number, pos: number, what: string): Buffer | null {
    const list = this.readListAt(seg, pos, 1);
    if (list === null) return null;
    if (list.elemSize !== ElementSize.Byte) this.fail(`${what} is not a byte list`);
    const buf = this.segment(list.seg);
    return buf.subarray(list.startByte, list.startByte + list.length);
  }
}

export class StructReader {
  constructor(
    readonly msg: MessageReader,
    readonly seg: number,
    /** byte offset of the data section */
    readonly dataPos: number,
    readonly dataBytes: number,
    /** word index of the first pointer */
    readonly ptrPos: number,
    readonly ptrCount: number,
    readonly depth: number,
  ) {}

  private buf(): Buffer {
    return this.msg.segments[this.seg] as Buffer;
  }

  // Fields beyond the encoded sections read as their defaults, which is how Cap'n Proto lets old and new
  // schemas talk to each other.
  u8(offset: number): number {
    return offset + 1 <= this.dataBytes ? this.buf().readUInt8(this.dataPos + offset) : 0;
  }
  u16(offset: number): number {
    return offset + 2 <= this.dataBytes ? this.buf().readUInt16LE(this.dataPos + offset) : 0;
  }
  u32(offset: number): number {
    return offset + 4 <= this.dataBytes ? this.buf().readUInt32LE(this.dataPos + offset) : 0;
  }
  i32(offset: number): number {
    return offset + 4 <= this.dataBytes ? this.buf().readInt32LE(this.dataPos + offset) : 0;
  }
  u64(offset: number): bigint {
    return offset + 8 <= this.dataBytes ? this.buf().readBigUInt64LE(this.dataPos + offset) : 0n;
  }
  i64(offset: number): bigint {
    return offset + 8 <= this.dataBytes ? this.buf().readBigInt64LE(this.dataPos + offset) : 0n;
  }
  bool(bit: number): boolean {
    const byte = bit >>> 3;
    return byte < this.dataBytes
      ? ((this.buf().readUInt8(this.dataPos + byte) >>> (bit & 7)) & 1) === 1
      : false;
  }

  hasPointer(index: number): boolean {
    if (index >= this.ptrCount) return false;
    const b = this.buf();
    const at = (this.ptrPos + index) * 8;
    return b.readUInt32LE(at) !== 0 || b.readUInt32LE(at + 4) !== 0;
  }

  struct(index: number): StructReader | null {
    if (index >= this.ptrCount) return null;
    return this.msg.readStructAt(this.seg, this.ptrPos + index, this.depth);
  }

  list(index: number): ListReader | null {
    if (index >= this.ptrCount) return null;
    return this.msg.readListAt(this.seg, this.ptrPos + index, this.depth);
  }

  data(index: number): Buffer {
    if (index >= this.ptrCount) return Buffer.alloc(0);
    return this.msg.readBytesAt(this.seg, this.ptrPos + index, 'Data') ?? Buffer.alloc(0);
  }

  text(index: number): string {
    if (index >= this.ptrCount) return '';
    const bytes = this.msg.readBytesAt(this.seg, this.ptrPos + index, 'Text');
    if (bytes === null || bytes.length === 0) return '';
    if (bytes[bytes.length - 1] !== 0) this.msg.fail('Text is not NUL-terminated');
    try {
      return textDecoder.decode(bytes.subarray(0, bytes.length - 1));
    } catch (cause) {
      throw new TunnelError('CAPNP_MALFORMED', 'Text is not valid UTF-8', { source: this.msg.source, cause });
    }
  }

  /** The capability-table index held by an "other" pointer, or null when the pointer is null. */
  capability(index: number): number | null {
    if (index >= this.ptrCount) return null;
    const b = this.buf();
    const at = (this.ptrPos + index) * 8;
    const lo = b.readUInt32LE(at);
    const hi = b.readUInt32LE(at + 4);
    if (lo === 0 && hi === 0) return null;
    if (lo !== 3) this.msg.fail('expected a capability pointer');
    return hi;
  }

  /** Raw access for deep copies: the pointer's kind (0 struct, 1 list, 3 other) after far resolution. */
  pointerKind(index: number): number | null {
    if (index >= this.ptrCount) return null;
    const r = this.msg.resolve(this.seg, this.ptrPos + index);
    return r === null ? null : r.lo & 3;
  }
}

export class ListReader {
  constructor(
    readonly msg: MessageReader,
    readonly seg: number,
    /** byte offset of element 0 */
    readonly startByte: number,
    readonly length: number,
    readonly elemSize: ElementSize,
    readonly strideBits: number,
    readonly dataWords: number,
    readonly ptrCount: number,
    readonly depth: number,
  ) {}

  /** Element i as a struct; primitive lists read as one-field structs, as the format allows. */
  struct(i: number): StructReader {
    if (i < 0 || i >= this.length) this.msg.fail('list index out of range');
    if (this.elemSize === ElementSize.Composite || this.elemSize === ElementSize.EightBytes) {
      const pos = this.startByte + (i * this.strideBits) / 8;
      return new StructReader(
        this.msg,
        this.seg,
        pos,
        this.dataWords * 8,
        pos / 8 + this.dataWords,
        this.ptrCount,
        this.depth,
      );
    }
    if (this.elemSize === ElementSize.Pointer) {
      const pos = this.startByte + i * 8;
      return new StructReader(this.msg, this.seg, pos, 0, pos / 8, 1, this.depth);
    }
    this.msg.fail('list elements are not structs');
  }

  /** Element i of a List(Text). */
  text(i: number): string {
    if (this.elemSize !== ElementSize.Pointer) this.msg.fail('expected a list of pointers');
    return this.struct(i).text(0);
  }

  u8(i: number): number {
    if (this.elemSize !== ElementSize.Byte || i < 0 || i >= this.length)
      this.msg.fail('not a byte list index');
    return (this.msg.segments[this.seg] as Buffer).readUInt8(this.startByte + i);
  }
}
