-- Reserve seats in one subsection for a batch of requests, atomically (one script call = one batch).
-- Seat state: one byte per seat in a string, row-major ('0' available, '1' reserved): Lua's string.find
-- scans it fast. Idempotent on booking id: a booking seen before gets its recorded outcome back and
-- takes nothing more.
--
-- KEYS[1] seats string      KEYS[2] outcomes hash (booking id -> outcome)
-- KEYS[3] subsection counters hash (available, reserved)   KEYS[4] event counters hash
-- ARGV[1] seats per row     ARGV[2] price per seat
-- then per request: booking id, mode ('B' best available | 'M' manual), n, n seat positions if 'M',
--                   allow split ('1' | '0')
-- Returns per request: booking id, outcome, 'new' | 'again'; then available, reserved of the subsection.
-- Outcome: 'R|<pos,pos,...>|<price>|<adjacent 1/0>' or 'F|<REASON>'.
local seats = redis.call('GET', KEYS[1])
if not seats then
  return redis.error_reply('NO_INVENTORY ' .. KEYS[1])
end
local per_row = tonumber(ARGV[1])
local price = tonumber(ARGV[2])
local taken_now = 0
local free = tonumber(redis.call('HGET', KEYS[3], 'available'))
local out = {}

local function adjacent_block(n)
  local pattern = string.rep('0', n)
  local init = 1
  while true do
    local s = string.find(seats, pattern, init, true)
    if not s then return nil end
    local row_first = math.floor((s - 1) / per_row)
    if math.floor((s + n - 2) / per_row) == row_first then
      local block = {}
      for k = 0, n - 1 do block[k + 1] = s + k end
      return block
    end
    init = (row_first + 1) * per_row + 1 -- the block crossed a row end: search from the next row
  end
end

local function lowest_free(n)
  local found, init = {}, 1
  while #found < n do
    local s = string.find(seats, '0', init, true)
    if not s then return nil end
    found[#found + 1] = s
    init = s + 1
  end
  return found
end

local function take(positions)
  for _, p in ipairs(positions) do
    seats = string.sub(seats, 1, p - 1) .. '1' .. string.sub(seats, p + 1)
  end
end

local i = 3
while i <= #ARGV do
  local booking, mode, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local wanted = {}
  if mode == 'M' then
    for k = 1, n do wanted[k] = tonumber(ARGV[i + k - 1]) end
    i = i + n
  end
  local allow_split = ARGV[i] == '1'
  i = i + 1

  local outcome = redis.call('HGET', KEYS[2], booking)
  local fresh = 'again'
  if not outcome then
    fresh = 'new'
    local positions, adjacent = nil, '1'
    if mode == 'M' then
      for _, p in ipairs(wanted) do
        if string.sub(seats, p, p) ~= '0' then
          outcome = 'F|SEAT_TAKEN'
          break
        end
      end
      if not outcome then positions = wanted end
    elseif free == 0 then
      outcome = 'F|SOLD_OUT'
    elseif free < n then
      outcome = 'F|NOT_ENOUGH_SEATS'
    else
      positions = adjacent_block(n)
      if not positions then
        if allow_split then
          positions, adjacent = lowest_free(n), '0'
        else
          outcome = 'F|NOT_ENOUGH_ADJACENT'
        end
      end
    end
    if positions then
      take(positions)
      taken_now = taken_now + #positions
      free = free - #positions
      outcome = 'R|' .. table.concat(positions, ',') .. '|' .. (#positions * price) .. '|' .. adjacent
    end
    redis.call('HSET', KEYS[2], booking, outcome)
  end
  out[#out + 1] = booking
  out[#out + 1] = outcome
  out[#out + 1] = fresh
end

if taken_now > 0 then
  redis.call('SET', KEYS[1], seats)
  redis.call('HINCRBY', KEYS[3], 'available', -taken_now)
  redis.call('HINCRBY', KEYS[4], 'available', -taken_now)
  redis.call('HINCRBY', KEYS[3], 'reserved', taken_now)
  redis.call('HINCRBY', KEYS[4], 'reserved', taken_now)
end
local counters = redis.call('HMGET', KEYS[3], 'available', 'reserved')
out[#out + 1] = counters[1]
out[#out + 1] = counters[2]
return out
