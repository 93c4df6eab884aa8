import { ElementSize, type StructReader } from './reader.js';

const textEncoder = new TextEncoder();

/**
 * Builds a single-segment Cap'n Proto message, which is what cloudflared itself writes. Builders hold
 * offsets, never the buffer, because the buffer is reallocated as the message grows.
 */
export class MessageBuilder {
  buf: Buffer;
  /** bytes in use, always a multiple of 8 */
  used = 0;

  constructor(initialWords = 32) {
    this.buf = Buffer.alloc(initialWords * 8);
  }

  /** Allocates zeroed words and returns their byte offset. */
  alloc(words: number): number {
    const at = this.used;
    const need = at + words * 8;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const next = Buffer.alloc(size);
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.used = need;
    return at;
  }

  initRoot(dataWords: number, ptrCount: number): StructBuilder {
    const rootPtr = this.alloc(1);
    return this.initStructAt(rootPtr, dataWords, ptrCount);
  }

  initStructAt(ptrByte: number, dataWords: number, ptrCount: number): StructBuilder {
    const target = this.alloc(dataWords + ptrCount);
    this.writeStructPointer(ptrByte, target, dataWords, ptrCount);
    return new StructBuilder(this, target, dataWords, ptrCount);
  }

  writeStructPointer(ptrByte: number, targetByte: number, dataWords: number, ptrCount: number): void {
    const offset = (targetByte - ptrByte - 8) / 8;
    this.buf.writeInt32LE((offset << 2) | 0, ptrByte);
    this.buf.writeUInt32LE((dataWords & 0xffff) | ((ptrCount & 0xffff) << 16), ptrByte + 4);
  }

  writeListPointer(ptrByte: number, targetByte: number, elemSize: ElementSize, count: number): void {
    const offset = (targetByte - ptrByte - 8) / 8;
    this.buf.writeInt32LE((offset << 2) | 1, ptrByte);
    this.buf.writeUInt32LE((elemSize | (count << 3)) >>> 0, ptrByte + 4);
  }

  writeBytesAt(ptrByte: number, bytes: Uint8Array, nulTerminated: boolean): void {
    const count = bytes.length + (nulTerminated ? 1 : 0);
    const target = this.alloc(Math.ceil(count / 8));
    this.buf.set(bytes, target);
    this.writeListPointer(ptrByte, target, ElementSize.Byte, count);
  }

  /** The message in the standard unpacked stream framing, ready for the wire. */
  toFrame(): Buffer {
    const out = Buffer.allocUnsafe(8 + this.used);
    out.writeUInt32LE(0, 0);
    out.writeUInt32LE(this.used / 8, 4);
    this.buf.copy(out, 8, 0, this.used);
    return out;
  }

  /** The single segment, for handing straight to a reader. */
  segment(): Buffer {
    return this.buf.subarray(0, this.used);
  }
}

export class StructBuilder {
  constructor(
    readonly msg: MessageBuilder,
    /** byte offset of the data section */
    readonly pos: number,
    readonly dataWords: number,
    readonly ptrCount: number,
  ) {}

  private ptrByte(index: number): number {
    if (index >= this.ptrCount) throw new RangeError(`pointer ${index} out of range`);
    return this.pos + this.dataWords * 8 + index * 8;
  }

  private dataByte(offset: number, size: number): number {
    if (offset + size > this.dataWords * 8) throw new RangeError(`data offset ${offset} out of range`);
    return this.pos + offset;
  }

  setU8(offset: number, v: number): void {
    this.msg.buf.writeUInt8(v, this.dataByte(offset, 1));
  }
  setU16(offset: number, v: number): void {
    this.msg.buf.writeUInt16LE(v, this.dataByte(offset, 2));
  }
  setU32(offset: number, v: number): void {
    this.msg.buf.writeUInt32LE(v >>> 0, this.dataByte(offset, 4));
  }
  setI32(offset: number, v: number): void {
    this.msg.buf.writeInt32LE(v, this.dataByte(offset, 4));
  }
  setU64(offset: number, v: bigint): void {
    this.msg.buf.writeBigUInt64LE(v, this.dataByte(offset, 8));
  }
  setI64(offset: number, v: bigint): void {
    this.msg.buf.writeBigInt64LE(v, this.dataByte(offset, 8));
  }
  setBool(bit: number, v: boolean): void {
    const at = this.dataByte(bit >>> 3, 1);
    const mask = 1 << (bit & 7);
    const cur = this.msg.buf.readUInt8(at);
    this.msg.buf.writeUInt8(v ? cur | mask : cur & ~mask, at);
  }

  initStruct(index: number, dataWords: number, ptrCount: number): StructBuilder {
    if (dataWords === 0 && ptrCount === 0) {
      // A zero-sized struct still needs a non-null pointer: offset -1 by convention.
      const at = this.ptrByte(index);
      this.msg.buf.writeInt32LE(-4, at);
      this.msg.buf.writeUInt32LE(0, at + 4);
      return new StructBuilder(this.msg, at + 8, 0, 0);
    }
    return this.msg.initStructAt(this.ptrByte(index), dataWords, ptrCount);
  }

  setText(index: number, value: string): void {
    if (value.length === 0) return; // null reads as ""; cloudflared writes the same
    this.msg.writeBytesAt(this.ptrByte(index), textEncoder.encode(value), true);
  }

  setData(index: number, value: Uint8Array): void {
    this.msg.writeBytesAt(this.ptrByte(index), value, false);
  }

  /** A List(Struct) of `count` elements; returns one builder per element. */
  initStructList(index: number, count: number, dataWords: number, ptrCount: number): StructBuilder[] {
    const stride = dataWords + ptrCount;
    const at = this.ptrByte(index);
    const tag = this.msg.alloc(1 + count * stride);
    this.msg.writeListPointer(at, tag, ElementSize.Composite, count * stride);
    this.msg.buf.writeUInt32LE((count << 2) >>> 0, tag);
    this.msg.buf.writeUInt32LE((dataWords & 0xffff) | ((ptrCount & 0xffff) << 16), tag + 4);
    const out = new Array<StructBuilder>(count);
    for (let i = 0; i < count; i++)
      out[i] = new StructBuilder(this.msg, tag + 8 + i * stride * 8, dataWords, ptrCount);
    return out;
  }

  setTextList(index: number, values: readonly string[]): void {
    const at = this.ptrByte(index);
    const list = this.msg.alloc(values.length);
    this.msg.writeListPointer(at, list, ElementSize.Pointer, values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as string;
      this.msg.writeBytesAt(list + i * 8, textEncoder.encode(v), true);
    }
  }

  /** Puts capability-table index `capIndex` in pointer `index` (an "other" pointer). */
  setCapability(index: number, capIndex: number): void {
    const at = this.ptrByte(index);
    this.msg.buf.writeUInt32LE(3, at);
    this.msg.buf.writeUInt32LE(capIndex >>> 0, at + 4);
  }

  /** Deep-copies the struct `src` into pointer `index`. */
  copyStruct(index: number, src: StructReader): void {
    copyStructInto(this.msg, this.ptrByte(index), src);
  }

  /** Deep-copies pointer `fromIndex` of `src` (struct, list, text, data or capability) into pointer `index`. */
  copyPointer(index: number, src: StructReader, fromIndex: number): void {
    copyPointerInto(this.msg, this.ptrByte(index), src, fromIndex);
  }
}

function copyStructInto(msg: MessageBuilder, ptrByte: number, s: StructReader): void {
  const dataWords = Math.ceil(s.dataBytes / 8);
  const target = msg.alloc(dataWords + s.ptrCount);
  msg.writeStructPointer(ptrByte, target, dataWords, s.ptrCount);
  const seg = s.msg.segments[s.seg] as Buffer;
  seg.copy(msg.buf, target, s.dataPos, s.dataPos + s.dataBytes);
  for (let i = 0; i < s.ptrCount; i++) copyPointerInto(msg, target + dataWords * 8 + i * 8, s, i);
}

function copyPointerInto(msg: MessageBuilder, ptrByte: number, src: StructReader, index: number): void {
  const kind = src.pointerKind(index);
  if (kind === null) return;
  if (kind === 3) {
    const cap = src.capability(index);
    if (cap !== null) {
      msg.buf.writeUInt32LE(3, ptrByte);
      msg.buf.writeUInt32LE(cap, ptrByte + 4);
    }
    return;
  }
  if (kind === 0) {
    const s = src.struct(index);
    if (s !== null) copyStructInto(msg, ptrByte, s);
    return;
  }
  const list = src.list(index);
  if (list === null) return;
  const seg = list.msg.segments[list.seg] as Buffer;
  if (list.elemSize === ElementSize.Composite) {
    const stride = list.dataWords + list.ptrCount;
    const tag = msg.alloc(1 + list.length * stride);
    msg.writeListPointer(ptrByte, tag, ElementSize.Composite, list.length * stride);
    msg.buf.writeUInt32LE((list.length << 2) >>> 0, tag);
    msg.buf.writeUInt32LE(list.dataWords | (list.ptrCount << 16), tag + 4);
    for (let i = 0; i < list.length; i++) {
      const el = list.struct(i);
      const at = tag + 8 + i * stride * 8;
      seg.copy(msg.buf, at, el.dataPos, el.dataPos + el.dataBytes);
      for (let p = 0; p < el.ptrCount; p++) copyPointerInto(msg, at + list.dataWords * 8 + p * 8, el, p);
    }
    return;
  }
  if (list.elemSize === ElementSize.Pointer) {
    const at = msg.alloc(list.length);
    msg.writeListPointer(ptrByte, at, ElementSize.Pointer, list.length);
    for (let i = 0; i < list.length; i++) copyPointerInto(msg, at + i * 8, list.struct(i), 0);
    return;
  }
  const bytes = Math.ceil((list.length * list.strideBits) / 8);
  const at = msg.alloc(Math.ceil(bytes / 8));
  seg.copy(msg.buf, at, list.startByte, list.startByte + bytes);
  msg.writeListPointer(ptrByte, at, list.elemSize, list.length);
}
