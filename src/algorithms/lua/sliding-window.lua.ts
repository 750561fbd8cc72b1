/** Lua mirror of algorithms/sliding-window.ts `step` (admission and next counts; same integer arithmetic). */
export const SLIDING_WINDOW_LUA = `
local function sliding_step(p, c, h, neg, bud, rpu, w, e)
  if neg == 1 then
    local take = h
    local from_cur = take
    if from_cur > c then from_cur = c end
    take = take - from_cur
    local np = 0
    if take < p then np = p - take end
    local nc = c - from_cur
    return true, np, nc, np ~= p or nc ~= c
  end
  local weight = p * (w - e)
  local cap = rpu * w
  local need = h
  if h == 0 then need = 1 end
  local fits = weight + (c + need) * w <= cap
  local after = c
  if fits or bud == 1 then after = c + h end
  local adm = fits
  if bud == 1 and h > 0 then adm = weight + (after + 1) * w <= cap end
  return adm, p, after, after - c > 0
end
`;
