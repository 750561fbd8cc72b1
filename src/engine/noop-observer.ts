import type { DecisionObserver } from "../domain/ports.js";

/** A DecisionObserver that records nothing: the default when no metrics are wired (tests, embedding). */
export const NOOP_OBSERVER: DecisionObserver = Object.freeze({
  descriptorDecided(): void {},
  domainNotFound(): void {},
  globalShadowMode(): void {},
  storeApplied(): void {},
  now: () => 0,
});
