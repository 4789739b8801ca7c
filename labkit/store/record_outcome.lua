-- Record a booking's terminal outcome once: a redelivered reply finds it no longer PENDING and changes nothing.
-- KEYS[1] booking hash  KEYS[2] ticketing stats hash
-- ARGV: status (RESERVED | FAILED), seats (comma-separated), total price, reason, completed_at (ms)
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'PENDING' then
  return 0
end
local latency = tonumber(ARGV[5]) - tonumber(redis.call('HGET', KEYS[1], 'requested_at'))
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'seats', ARGV[2], 'total_price', ARGV[3], 'reason', ARGV[4],
  'completed_at', ARGV[5], 'latency_ms', latency)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[2], 'failed:' .. ARGV[4], 1)
end
return 1
