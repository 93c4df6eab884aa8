import type { StructBuilder } from './capnp/builder.js';
import type { StructReader } from './capnp/reader.js';
import { TunnelError } from './errors.js';
import { EMPTY_CONTENT, type ContentWriter } from './rpc/messages.js';
import type { RemoteCapability, RpcConnection, RpcServer } from './rpc/rpc-connection.js';
import {
  ConfigurationManagerId,
  RegistrationMethod,
  RegistrationServerId,
  SessionManagerId,
  readConnectionResponse,
  readRegisterConnectionParams,
  readUpdateConfigurationResponse,
  writeConnectionResponse,
  writeRegisterConnectionParams,
  writeRegisterUdpSessionResponse,
  writeUpdateConfigurationResponse,
  type ConnectionResponse,
  type RegisterConnectionParams,
  type UpdateConfigurationResponse,
} from './schema/tunnelrpc.js';

/**
 * The calls on a control stream (cloudflared is the client, the edge the server) and on edge-opened
 * RPC streams (the edge is the client of cloudflared's ConfigurationManager and SessionManager).
 */
export async function callRegisterConnection(
  rpc: RpcConnection,
  cap: RemoteCapability,
  params: RegisterConnectionParams,
): Promise<ConnectionResponse> {
  const writer: ContentWriter = {
    dataWords: 1,
    ptrCount: 3,
    write: (sb) => writeRegisterConnectionParams(sb, params),
  };
  const { content } = await rpc.call(
    cap,
    RegistrationServerId,
    RegistrationMethod.RegisterConnection,
    writer,
  );
  const result = content?.struct(0) ?? null;
  if (result === null) {
    throw new TunnelError('REGISTRATION_MALFORMED', 'registerConnection returned no result', {
      source: 'edge',
    });
  }
  return readConnectionResponse(result);
}

export async function callUnregisterConnection(rpc: RpcConnection, cap: RemoteCapability): Promise<void> {
  await rpc.call(cap, RegistrationServerId, RegistrationMethod.UnregisterConnection, EMPTY_CONTENT);
}

export async function callUpdateLocalConfiguration(
  rpc: RpcConnection,
  cap: RemoteCapability,
  config: Uint8Array,
): Promise<void> {
  await rpc.call(cap, RegistrationServerId, RegistrationMethod.UpdateLocalConfiguration, {
    dataWords: 0,
    ptrCount: 1,
    write: (sb) => sb.setData(0, config),
  });
}

export async function callUpdateConfiguration(
  rpc: RpcConnection,
  cap: RemoteCapability,
  version: number,
  config: Uint8Array,
): Promise<UpdateConfigurationResponse> {
  const { content } = await rpc.call(cap, ConfigurationManagerId, 0, {
    dataWords: 1,
    ptrCount: 1,
    write: (sb) => {
      sb.setI32(0, version);
      sb.setData(0, config);
    },
  });
  const result = content?.struct(0) ?? null;
  if (result === null) {
    throw new TunnelError('RPC_MALFORMED', 'updateConfiguration returned no result', { source: 'origin' });
  }
  return readUpdateConfigurationResponse(result);
}

/** What the edge does with each RegistrationServer method. */
export interface RegistrationHandler {
  registerConnection(params: RegisterConnectionParams): Promise<ConnectionResponse>;
  unregisterConnection(): Promise<void>;
  updateLocalConfiguration(config: Buffer): Promise<void>;
}

function unimplemented(interfaceId: bigint, methodId: number): TunnelError {
  return new TunnelError(
    'RPC_UNIMPLEMENTED',
    `method ${methodId} of interface 0x${interfaceId.toString(16)} is not implemented`,
    { source: 'internal' },
  );
}

export function registrationServer(handler: RegistrationHandler): RpcServer {
  return {
    async call(interfaceId: bigint, methodId: number, params: StructReader | null): Promise<ContentWriter> {
      if (interfaceId !== RegistrationServerId) throw unimplemented(interfaceId, methodId);
      switch (methodId) {
        case RegistrationMethod.RegisterConnection: {
          if (params === null) {
            throw new TunnelError('REGISTRATION_MALFORMED', 'registerConnection without params', {
              source: 'origin',
            });
          }
          const response = await handler.registerConnection(readRegisterConnectionParams(params));
          return {
            dataWords: 0,
            ptrCount: 1,
            write: (sb: StructBuilder) => writeConnectionResponse(sb.initStruct(0, 1, 1), response),
          };
        }
        case RegistrationMethod.UnregisterConnection:
          await handler.unregisterConnection();
          return EMPTY_CONTENT;
        case RegistrationMethod.UpdateLocalConfiguration:
          await handler.updateLocalConfiguration(params?.data(0) ?? Buffer.alloc(0));
          return EMPTY_CONTENT;
        default:
          throw unimplemented(interfaceId, methodId);
      }
    },
  };
}

/** What the agent does when the edge pushes configuration or asks for a UDP session. */
export interface CloudflaredHandler {
  updateConfiguration(version: number, config: Buffer): Promise<UpdateConfigurationResponse>;
}

export function cloudflaredServer(handler: CloudflaredHandler): RpcServer {
  return {
    async call(interfaceId: bigint, methodId: number, params: StructReader | null): Promise<ContentWriter> {
      if (interfaceId === ConfigurationManagerId && methodId === 0) {
        const response = await handler.updateConfiguration(
          params?.i32(0) ?? 0,
          params?.data(0) ?? Buffer.alloc(0),
        );
        return {
          dataWords: 0,
          ptrCount: 1,
          write: (sb) => writeUpdateConfigurationResponse(sb.initStruct(0, 1, 1), response),
        };
      }
      if (interfaceId === SessionManagerId && methodId === 0) {
        // registerUdpSession: UDP is not supported; answer with an error rather than hang the edge.
        return {
          dataWords: 0,
          ptrCount: 1,
          write: (sb) =>
            writeRegisterUdpSessionResponse(sb.initStruct(0, 0, 2), {
              err: 'UDP sessions are not supported by tunnel-ingress',
              spans: new Uint8Array(0),
            }),
        };
      }
      if (interfaceId === SessionManagerId && methodId === 1) return EMPTY_CONTENT;
      throw unimplemented(interfaceId, methodId);
    },
  };
}
