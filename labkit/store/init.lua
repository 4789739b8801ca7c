-- Create one subsection's seats (all available) and counters, once: a second call changes nothing.
-- KEYS[1] seats string  KEYS[2] subsection counters  KEYS[3] event counters   ARGV[1] capacity
if redis.call('SET', KEYS[1], string.rep('0', tonumber(ARGV[1])), 'NX') then
  redis.call('HSET', KEYS[2], 'available', ARGV[1], 'reserved', 0)
  redis.call('HINCRBY', KEYS[3], 'available', ARGV[1])
  redis.call('HINCRBY', KEYS[3], 'reserved', 0)
  return 1
end
return 0
