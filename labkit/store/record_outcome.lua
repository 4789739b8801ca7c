-- Record the terminal outcomes of a batch of bookings, each once: a redelivered reply finds its booking no
-- longer PENDING and changes nothing. One call per batch of replies.
-- KEYS[1] ticketing stats hash, then one booking hash per reply
-- ARGV[1] completed_at (ms); then per reply: status (RESERVED | FAILED), seats (comma-separated), total price,
--         reason
-- Returns per reply 1 (recorded now) or 0 (already terminal, or unknown booking).
local completed_at = tonumber(ARGV[1])
local recorded = {}
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 4
  local status, seats, price, reason = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local booking = redis.call('HMGET', KEYS[i], 'status', 'requested_at')
  if booking[1] == 'PENDING' then
    local latency = completed_at - tonumber(booking[2])
    redis.call('HSET', KEYS[i], 'status', status, 'seats', seats, 'total_price', price, 'reason', reason,
      'completed_at', ARGV[1], 'latency_ms', latency)
    redis.call('HINCRBY', KEYS[1], status, 1)
    if reason ~= '' then
      redis.call('HINCRBY', KEYS[1], 'failed:' .. reason, 1)
    end
    recorded[#recorded + 1] = 1
  else
    recorded[#recorded + 1] = 0
  end
end
return recorded
