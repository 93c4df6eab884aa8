import { MessageBuilder, type StructBuilder } from '../capnp/builder.js';
import type { MessageReader, StructReader } from '../capnp/reader.js';

/** quic_metadata_protocol.capnp: what the edge sends first on a request stream, and the reply. */
export const enum ConnectionType {
  Http = 0,
  Websocket = 1,
  Tcp = 2,
}

export interface Metadata {
  key: string;
  val: string;
}

export interface ConnectRequest {
  dest: string;
  type: ConnectionType;
  metadata: Metadata[];
}

export interface ConnectResponse {
  error: string;
  metadata: Metadata[];
}

function writeMetadata(sb: StructBuilder, index: number, entries: readonly Metadata[]): void {
  const list = sb.initStructList(index, entries.length, 0, 2);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Metadata;
    const el = list[i] as StructBuilder;
    el.setText(0, e.key);
    el.setText(1, e.val);
  }
}

function readMetadata(s: StructReader, index: number): Metadata[] {
  const list = s.list(index);
  if (list === null) return [];
  const out = new Array<Metadata>(list.length);
  for (let i = 0; i < list.length; i++) {
    const el = list.struct(i);
    out[i] = { key: el.text(0), val: el.text(1) };
  }
  return out;
}

/** ConnectRequest 0xc47116a1045e4061: D1/P2, dest p0, type u16 @0, metadata p1. */
export function encodeConnectRequest(req: ConnectRequest): Buffer {
  const mb = new MessageBuilder(16 + req.metadata.length * 8);
  const root = mb.initRoot(1, 2);
  root.setText(0, req.dest);
  root.setU16(0, req.type);
  writeMetadata(root, 1, req.metadata);
  return mb.toFrame();
}

export function decodeConnectRequest(msg: MessageReader): ConnectRequest {
  const root = msg.root();
  const type = root.u16(0);
  if (type > 2) msg.fail(`unknown ConnectionType ${type}`);
  return { dest: root.text(0), type: type as ConnectionType, metadata: readMetadata(root, 1) };
}

/** ConnectResponse 0xb1032ec91cef8727: D0/P2, error p0, metadata p1. */
export function encodeConnectResponse(res: ConnectResponse): Buffer {
  const mb = new MessageBuilder(8 + res.metadata.length * 8);
  const root = mb.initRoot(0, 2);
  root.setText(0, res.error);
  writeMetadata(root, 1, res.metadata);
  return mb.toFrame();
}

export function decodeConnectResponse(msg: MessageReader): ConnectResponse {
  const root = msg.root();
  return { error: root.text(0), metadata: readMetadata(root, 1) };
}
