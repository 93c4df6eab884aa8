import type { RegistrationHandler } from '../../tunnel/registration.js';
import type { RegisterConnectionParams } from '../../tunnel/schema/tunnelrpc.js';

/** A registration request and an edge that accepts any, for transport-level tests. */
export const registration: RegisterConnectionParams = {
  auth: { accountTag: 'a', tunnelSecret: Buffer.alloc(32) },
  tunnelId: Buffer.alloc(16),
  connIndex: 0,
  options: {
    client: { clientId: Buffer.alloc(16), features: [], version: 'test', arch: 'linux_amd64' },
    originLocalIp: Buffer.alloc(0),
    replaceExisting: false,
    compressionQuality: 0,
    numPreviousAttempts: 0,
  },
};

export function acceptingEdge(locationName: string): RegistrationHandler {
  return {
    async registerConnection() {
      return {
        kind: 'connectionDetails',
        details: { uuid: Buffer.alloc(16, 1), locationName, tunnelIsRemotelyManaged: false },
      };
    },
    async unregisterConnection() {},
    async updateLocalConfiguration() {},
  };
}
