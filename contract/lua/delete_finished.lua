#!lua flags=allow-oom
-- Finished job records deleted, in the order given: the retention rule (contract/jobs.py).
-- `allow-oom`: with Redis' memory full, records are still freed.
-- KEYS: the finished jobs' index, their bytes, the trimmed ids' index, then the jobs' keys.
-- ARGV: the latest finish time deleted; the bytes to keep at most (-1: no bound); the time
--   to note each deleted id as trimmed ('': not noted); how many trimmed ids to keep.
-- Only a record in the finished index, finished at or before the given time, is deleted, so
-- an open job never is. With a bound, deleting stops once the finished records' bytes are
-- within it. Returns {the records deleted, the finished records' bytes after}.
local prefix_length = string.len('irisq:job:')
local latest, bound = tonumber(ARGV[1]), tonumber(ARGV[2])
local bytes = tonumber(redis.call('GET', KEYS[2]) or '0')
local deleted, freed = 0, 0
for i = 4, #KEYS do
  if bound >= 0 and bytes - freed <= bound then break end
  local key = KEYS[i]
  local id = string.sub(key, prefix_length + 1)
  local finished = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if finished and finished <= latest then
    -- The same count record_results.lua and fail_jobs.lua added: the record is unchanged.
    freed = freed + (redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') or 0)
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
    if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], id) end
    deleted = deleted + 1
  end
end
bytes = bytes - freed
-- No finished record left: nothing to count (a count that drifted starts again from zero).
if bytes < 0 or redis.call('ZCARD', KEYS[1]) == 0 then bytes = 0 end
redis.call('SET', KEYS[2], bytes)
if ARGV[3] ~= '' then
  local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1) end
end
return {deleted, bytes}
