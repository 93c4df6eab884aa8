import { appendFileSync } from 'node:fs';
import type { Decision, ResourceAttributes, UserInfo } from './authorizer.js';

/**
 * kube-apiserver's audit log (--audit-log-path), reduced to what its reader needs: one audit.k8s.io/v1
 * Event per resource request at level Metadata, written when the response ends, with the authorizer's
 * decision and reason as the API server annotates them. Lines are appended synchronously so that a
 * kube-sim killed a moment later has still written them; a failing write never fails the request.
 */
export class AuditLog {
  constructor(private readonly file: string) {}

  write(user: UserInfo, a: ResourceAttributes, d: Decision, code: number): void {
    const line = JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      stage: 'ResponseComplete',
      stageTimestamp: new Date().toISOString(),
      verb: a.verb,
      user: { username: user.name, groups: user.groups },
      objectRef: {
        resource: a.resource,
        ...(a.subresource === undefined ? {} : { subresource: a.subresource }),
        ...(a.namespace === undefined ? {} : { namespace: a.namespace }),
        ...(a.name === undefined ? {} : { name: a.name }),
        apiGroup: a.group,
      },
      responseStatus: { code },
      annotations: {
        'authorization.k8s.io/decision': d.allowed ? 'allow' : 'forbid',
        'authorization.k8s.io/reason': d.reason,
      },
    });
    try {
      appendFileSync(this.file, line + '\n');
    } catch {
      // an unwritable audit log must not take the API down
    }
  }
}
