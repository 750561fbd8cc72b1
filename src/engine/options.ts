/** Engine behaviour switches, resolved once from Settings by main.ts. */
export interface EngineOptions {
  /** CACHE_KEY_PREFIX, prepended to every store key. */
  readonly cacheKeyPrefix: string;
  /** NEAR_LIMIT_RATIO (default 0.8): near_limit stat threshold = floor(rpu * ratio). */
  readonly nearLimitRatio: number;
  /** SHADOW_MODE: a final OVER_LIMIT is answered OK (stat global_shadow_mode). */
  readonly globalShadowMode: boolean;
  /** QUOTA_MODE: every rule behaves as `quota_mode: true`. */
  readonly globalQuotaMode: boolean;
  /** STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT, with the reference's semantics. */
  readonly stopIncrementWhenOverLimit: boolean;
  /** LIMIT_RESPONSE_HEADERS_ENABLED and the LIMIT_*_HEADER names; undefined when disabled. */
  readonly responseHeaders:
    | { readonly limitHeader: string; readonly remainingHeader: string; readonly resetHeader: string }
    | undefined;
  /** RESPONSE_DYNAMIC_METADATA. */
  readonly responseDynamicMetadata: boolean;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = Object.freeze({
  cacheKeyPrefix: "",
  nearLimitRatio: 0.8,
  globalShadowMode: false,
  globalQuotaMode: false,
  stopIncrementWhenOverLimit: false,
  responseHeaders: undefined,
  responseDynamicMetadata: false,
});
