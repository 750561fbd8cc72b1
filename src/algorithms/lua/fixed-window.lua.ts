/**
 * Lua mirror of algorithms/fixed-window.ts `countStep` (admission and next count only; the outcome's numbers are
 * computed in TypeScript from the state the script read). Used by the limits script for fixed windows that are part
 * of a descriptor's group, or keyed by a first hit; a lone epoch fixed window takes the INCRBY fast path instead.
 */
export const FIXED_WINDOW_LUA = `
local function count_step(c, h, neg, bud, rpu)
  if neg == 1 then
    local after = c - h
    if after < 0 then after = 0 end
    return true, after, after ~= c
  end
  local adm
  if bud == 1 then
    if h == 0 then adm = c < rpu else adm = c + h < rpu end
  else
    adm = c + h <= rpu
  end
  return adm, c + h, h > 0
end
`;
