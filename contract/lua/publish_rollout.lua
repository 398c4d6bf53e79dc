-- The rollout (contract/rollout.py) replaces the published one only when it is newer, so a
-- worker that read the registry before a promotion cannot undo it. Generation 0 is the
-- layout without a registry: its one model is whatever the latest worker start found.
-- KEYS: the rollout hash.
-- ARGV: the generation, the served version, the canary ('' for none), the canary's percent.
-- Returns 1 when it was written, 0 when the published one is as new.
local current = tonumber(redis.call('HGET', KEYS[1], 'generation') or '-1')
local generation = tonumber(ARGV[1])
if current > generation or (current == generation and generation > 0) then return 0 end
redis.call('HSET', KEYS[1], 'generation', ARGV[1], 'served', ARGV[2], 'canary', ARGV[3],
  'canary_percent', ARGV[4])
return 1
