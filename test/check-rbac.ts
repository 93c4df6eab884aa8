import {
  grantedPermissions,
  isAgentUser,
  permissionOf,
  readAuditLogs,
  RBAC_VALUES,
  type AuditEvent,
  type RbacValues,
} from './helpers/chart-rbac.js';

/**
 * Run by `npm test` after the suite: the chart's RBAC against every API call the suite's agents made.
 * Every API server in the suite (the real kube-apiserver, or kube-sim) enforced RBAC and wrote an audit log; the agents ran as the chart's
 * ServiceAccount, bound to exactly what the chart renders. Fails when any agent call was forbidden,
 * or when the chart grants a permission no agent used (least privilege: drop it or test it).
 */
// Updating an Event happens only when it repeats after five minutes, longer than any test runs.
const USED_ONLY_LATER = new Set(['|events|update']);

const { files, events } = readAuditLogs();
// Resource requests only: discovery and /version need no RBAC rule of the chart's.
const agentEvents = events.filter((e) => isAgentUser(e.user.username) && e.objectRef !== undefined);
if (files === 0 || agentEvents.length === 0) {
  process.stderr.write(`RBAC check: no agent calls in ${files} audit logs: did the suite run?\n`);
  process.exit(1);
}
const problems: string[] = [];
const allowed = (e: AuditEvent) => e.annotations?.['authorization.k8s.io/decision'] === 'allow';
// The chart's rules do not change while a test runs, so a denial of something the same user was also
// allowed on the same server is not the chart's: it is a restarted kube-apiserver answering before its
// RBAC caches have synced (the fault tests restart theirs), which real clients meet too.
const key = (e: AuditEvent) =>
  `${e.file}|${e.user.username}|${e.objectRef?.namespace ?? ''}|${permissionOf(e)}`;
const everAllowed = new Set(agentEvents.filter(allowed).map(key));
const forbidden = agentEvents.filter((e) => !allowed(e) && !everAllowed.has(key(e)));
for (const p of new Set(
  forbidden.map((e) => e.annotations['authorization.k8s.io/reason'] ?? permissionOf(e)),
))
  problems.push(`forbidden: ${p}`);
const used = new Set(agentEvents.map(permissionOf));
const granted = new Set(
  (Object.keys(RBAC_VALUES) as RbacValues[]).flatMap((v) => [...grantedPermissions(v)]),
);
for (const g of granted)
  if (!used.has(g) && !USED_ONLY_LATER.has(g)) problems.push(`granted but never used: ${g}`);
if (problems.length > 0) {
  process.stderr.write(
    `RBAC check: the chart's rules and the agents' calls disagree:\n${problems.join('\n')}\n`,
  );
  process.exit(1);
}
process.stdout.write(
  `RBAC check: ${agentEvents.length} agent calls over ${files} audit logs (kube-sim's and the real kube-apiserver's), all allowed by the chart's rules; ` +
    `each of its ${granted.size} permissions used (${[...USED_ONLY_LATER].join(', ')} only after 5 minutes)\n`,
);
