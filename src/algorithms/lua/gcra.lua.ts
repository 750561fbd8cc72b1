/** Lua mirror of algorithms/gcra.ts `step` (admission and next debt; same integer arithmetic in ms × rpu). */
export const GCRA_LUA = `
local function gcra_step(anchor, debt, now, h, neg, bud, rpu, unit, burst)
  local d = 0
  if anchor >= 0 then
    local elapsed = 0
    if now > anchor then elapsed = now - anchor end
    d = debt - elapsed * rpu
    if d < 0 then d = 0 end
  end
  if neg == 1 then
    local after = d - h * unit
    if after < 0 then after = 0 end
    return true, after, after ~= d
  end
  local cap = burst * unit
  local cost = h * unit
  local need = cost
  if h == 0 then need = unit end
  local fits = d + need <= cap
  local charged = fits or bud == 1
  local after = d
  if charged then
    after = d + cost
    if after > 9007199254740991 then after = 9007199254740991 end
  end
  local adm = fits
  if bud == 1 and h > 0 then adm = after + unit <= cap end
  return adm, after, charged and h > 0
end
`;
