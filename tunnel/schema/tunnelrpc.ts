import type { StructBuilder } from '../capnp/builder.js';
import type { StructReader } from '../capnp/reader.js';

/**
 * tunnelrpc.capnp structs used by named tunnels, laid out as the spec gives them (§5). Each struct has a
 * writer into a builder the caller allocated with the right size, and a reader that tolerates older or
 * newer layouts.
 */
export const RegistrationServerId = 0xf71695ec7fe85497n;
export const SessionManagerId = 0x839445a59fb01686n;
export const ConfigurationManagerId = 0xb48edfbdaa25db04n;
export const CloudflaredServerId = 0xf548cef9dea2a4a1n;

export const enum RegistrationMethod {
  RegisterConnection = 0,
  UnregisterConnection = 1,
  UpdateLocalConfiguration = 2,
}

export interface ClientInfo {
  clientId: Uint8Array;
  features: string[];
  version: string;
  arch: string;
}

export interface ConnectionOptions {
  client: ClientInfo;
  originLocalIp: Uint8Array;
  replaceExisting: boolean;
  compressionQuality: number;
  numPreviousAttempts: number;
}

export interface TunnelAuth {
  accountTag: string;
  tunnelSecret: Uint8Array;
}

export interface ConnectionError {
  cause: string;
  /** nanoseconds */
  retryAfter: bigint;
  shouldRetry: boolean;
}

export interface ConnectionDetails {
  uuid: Uint8Array;
  locationName: string;
  tunnelIsRemotelyManaged: boolean;
}

export type ConnectionResponse =
  { kind: 'error'; error: ConnectionError } | { kind: 'connectionDetails'; details: ConnectionDetails };

export interface RegisterConnectionParams {
  auth: TunnelAuth;
  tunnelId: Uint8Array;
  connIndex: number;
  options: ConnectionOptions;
}

export interface UpdateConfigurationResponse {
  latestAppliedVersion: number;
  err: string;
}

export const ClientInfoSize = [0, 4] as const;
export function writeClientInfo(sb: StructBuilder, v: ClientInfo): void {
  sb.setData(0, v.clientId);
  sb.setTextList(1, v.features);
  sb.setText(2, v.version);
  sb.setText(3, v.arch);
}
export function readClientInfo(s: StructReader): ClientInfo {
  const features: string[] = [];
  const list = s.list(1);
  if (list !== null) for (let i = 0; i < list.length; i++) features.push(list.text(i));
  return { clientId: s.data(0), features, version: s.text(2), arch: s.text(3) };
}

export function writeConnectionOptions(sb: StructBuilder, v: ConnectionOptions): void {
  writeClientInfo(sb.initStruct(0, 0, 4), v.client);
  if (v.originLocalIp.length > 0) sb.setData(1, v.originLocalIp);
  sb.setBool(0, v.replaceExisting);
  sb.setU8(1, v.compressionQuality);
  sb.setU8(2, v.numPreviousAttempts);
}
export function readConnectionOptions(s: StructReader): ConnectionOptions {
  const client = s.struct(0);
  return {
    client:
      client === null
        ? { clientId: new Uint8Array(0), features: [], version: '', arch: '' }
        : readClientInfo(client),
    originLocalIp: s.data(1),
    replaceExisting: s.bool(0),
    compressionQuality: s.u8(1),
    numPreviousAttempts: s.u8(2),
  };
}

export function writeTunnelAuth(sb: StructBuilder, v: TunnelAuth): void {
  sb.setText(0, v.accountTag);
  sb.setData(1, v.tunnelSecret);
}
export function readTunnelAuth(s: StructReader | null): TunnelAuth {
  if (s === null) return { accountTag: '', tunnelSecret: new Uint8Array(0) };
  return { accountTag: s.text(0), tunnelSecret: s.data(1) };
}

/** registerConnection params 0xe6646dec8feaa6ee: D1/P3. */
export const RegisterConnectionParamsSize = [1, 3] as const;
export function writeRegisterConnectionParams(sb: StructBuilder, v: RegisterConnectionParams): void {
  sb.setU8(0, v.connIndex);
  writeTunnelAuth(sb.initStruct(0, 0, 2), v.auth);
  sb.setData(1, v.tunnelId);
  writeConnectionOptions(sb.initStruct(2, 1, 2), v.options);
}
export function readRegisterConnectionParams(s: StructReader): RegisterConnectionParams {
  const options = s.struct(2);
  return {
    connIndex: s.u8(0),
    auth: readTunnelAuth(s.struct(0)),
    tunnelId: s.data(1),
    options: options === null ? readConnectionOptionsDefault() : readConnectionOptions(options),
  };
}
function readConnectionOptionsDefault(): ConnectionOptions {
  return {
    client: { clientId: new Uint8Array(0), features: [], version: '', arch: '' },
    originLocalIp: new Uint8Array(0),
    replaceExisting: false,
    compressionQuality: 0,
    numPreviousAttempts: 0,
  };
}

/** ConnectionResponse 0xdbaa9d03d52b62dc: D1/P1, union tag u16 @0 (0 error, 1 details), p0. */
export const ConnectionResponseSize = [1, 1] as const;
export function writeConnectionResponse(sb: StructBuilder, v: ConnectionResponse): void {
  if (v.kind === 'error') {
    sb.setU16(0, 0);
    const e = sb.initStruct(0, 2, 1);
    e.setText(0, v.error.cause);
    e.setI64(0, v.error.retryAfter);
    e.setBool(64, v.error.shouldRetry);
  } else {
    sb.setU16(0, 1);
    const d = sb.initStruct(0, 1, 2);
    d.setData(0, v.details.uuid);
    d.setText(1, v.details.locationName);
    d.setBool(0, v.details.tunnelIsRemotelyManaged);
  }
}
export function readConnectionResponse(s: StructReader): ConnectionResponse {
  const tag = s.u16(0);
  const body = s.struct(0);
  if (tag === 1) {
    return {
      kind: 'connectionDetails',
      details: {
        uuid: body?.data(0) ?? new Uint8Array(0),
        locationName: body?.text(1) ?? '',
        tunnelIsRemotelyManaged: body?.bool(0) ?? false,
      },
    };
  }
  if (tag !== 0) s.msg.fail(`unknown ConnectionResponse variant ${tag}`);
  return {
    kind: 'error',
    error: {
      cause: body?.text(0) ?? '',
      retryAfter: body?.i64(0) ?? 0n,
      shouldRetry: body?.bool(64) ?? false,
    },
  };
}

/** UpdateConfigurationResponse 0xdb58ff694ba05cf9: D1/P1, latestAppliedVersion i32 @0, err p0. */
export function writeUpdateConfigurationResponse(sb: StructBuilder, v: UpdateConfigurationResponse): void {
  sb.setI32(0, v.latestAppliedVersion);
  sb.setText(0, v.err);
}
export function readUpdateConfigurationResponse(s: StructReader): UpdateConfigurationResponse {
  return { latestAppliedVersion: s.i32(0), err: s.text(0) };
}

/** RegisterUdpSessionResponse 0xab6d5210c1f26687: D0/P2, err p0, spans p1. */
export interface RegisterUdpSessionResponse {
  err: string;
  spans: Uint8Array;
}
export function writeRegisterUdpSessionResponse(sb: StructBuilder, v: RegisterUdpSessionResponse): void {
  sb.setText(0, v.err);
  if (v.spans.length > 0) sb.setData(1, v.spans);
}
export function readRegisterUdpSessionResponse(s: StructReader): RegisterUdpSessionResponse {
  return { err: s.text(0), spans: s.data(1) };
}

/** registerUdpSession params: D2/P3, dstPort u16 @0, closeAfterIdleHint i64 @8 (ns), sessionId p0, dstIp p1, traceContext p2. */
export interface RegisterUdpSessionParams {
  sessionId: Uint8Array;
  dstIp: Uint8Array;
  dstPort: number;
  closeAfterIdleHint: bigint;
  traceContext: string;
}
export function writeRegisterUdpSessionParams(sb: StructBuilder, v: RegisterUdpSessionParams): void {
  sb.setU16(0, v.dstPort);
  sb.setI64(8, v.closeAfterIdleHint);
  sb.setData(0, v.sessionId);
  sb.setData(1, v.dstIp);
  sb.setText(2, v.traceContext);
}
export function readRegisterUdpSessionParams(s: StructReader): RegisterUdpSessionParams {
  return {
    sessionId: s.data(0),
    dstIp: s.data(1),
    dstPort: s.u16(0),
    closeAfterIdleHint: s.i64(8),
    traceContext: s.text(2),
  };
}

/** unregisterUdpSession params: D0/P2, sessionId p0, message p1. */
export interface UnregisterUdpSessionParams {
  sessionId: Uint8Array;
  message: string;
}
export function writeUnregisterUdpSessionParams(sb: StructBuilder, v: UnregisterUdpSessionParams): void {
  sb.setData(0, v.sessionId);
  sb.setText(1, v.message);
}
export function readUnregisterUdpSessionParams(s: StructReader): UnregisterUdpSessionParams {
  return { sessionId: s.data(0), message: s.text(1) };
}
