import type { Ingress, IngressClass } from './types.js';

/**
 * Which Ingresses are ours: those whose class is our IngressClass (by spec.ingressClassName or the
 * legacy kubernetes.io/ingress.class annotation), and those with no class at all when our IngressClass
 * is the cluster default or --watch-ingress-without-class is set.
 */
export const CONTROLLER_NAME = 'tunnel-ingress.dev/agent';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

export interface ClassPolicy {
  className: string;
  watchWithoutClass: boolean;
}

export interface ClassState {
  /** our IngressClass exists and names our controller */
  ours: boolean;
  isDefault: boolean;
  /** why our class is not usable, for a log line */
  problem: string | null;
}

export function classState(classes: readonly IngressClass[], policy: ClassPolicy): ClassState {
  const mine = classes.find((c) => c.metadata?.name === policy.className);
  if (mine === undefined)
    return { ours: false, isDefault: false, problem: `IngressClass "${policy.className}" does not exist` };
  if (mine.spec?.controller !== CONTROLLER_NAME) {
    return {
      ours: false,
      isDefault: false,
      problem: `IngressClass "${policy.className}" names controller "${mine.spec?.controller ?? ''}", not ${CONTROLLER_NAME}`,
    };
  }
  return {
    ours: true,
    isDefault: mine.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true',
    problem: null,
  };
}

export function isOurs(ing: Ingress, state: ClassState, policy: ClassPolicy): boolean {
  const byName = ing.spec?.ingressClassName;
  if (byName !== undefined && byName !== '') return state.ours && byName === policy.className;
  const legacy = ing.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (legacy !== undefined && legacy !== '') return legacy === policy.className;
  return policy.watchWithoutClass || (state.ours && state.isDefault);
}
