import type { IngressController } from '../controller/ingress-controller.js';
import type { Backend, RouteAction } from './route-table.js';

/** The compiled route table as /debug/routes shows it: what serves each host and path, and where. */
function backendView(b: Backend): Record<string, unknown> {
  if (b.kind === 'unavailable') return { source: b.source, service: b.description, unavailable: b.reason };
  return {
    source: b.source,
    service: b.description,
    endpoints: b.upstream.endpoints.map((e) => `${e.address}:${e.port}`),
  };
}

function actionView(a: RouteAction): Record<string, unknown> {
  if (a.kind !== 'rule') return backendView(a);
  return {
    source: a.source,
    rule: a.description,
    ...(a.redirect === null ? {} : { redirect: a.redirect }),
    backends: a.backends.map((b) => ({ weight: b.weight, ...backendView(b.backend) })),
  };
}

export function describeRoutes(controller: IngressController): Record<string, unknown> {
  const t = controller.table;
  return {
    mode: 'kubernetes',
    generation: t.generation,
    compiled: controller.lastCompile,
    routes: t.entries.map((e) => ({
      host: e.host,
      path: e.path,
      pathType: e.pathType,
      ...actionView(e.action),
    })),
    defaultBackend: t.defaultBackend === null ? null : backendView(t.defaultBackend),
    problems: controller.diagnostics,
  };
}
