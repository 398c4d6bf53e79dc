#!lua flags=allow-oom
-- Jobs end as failed: a task's, when it fails, or the sweeper's overdue ones. `allow-oom`:
-- with Redis' memory full, jobs still end (a few fields, where the sweeper frees more).
-- KEYS: the open jobs' index, the finished jobs' index, their bytes, then the jobs' keys.
-- ARGV: the finish time, the error, the done channel, the task id ('' for the sweeper, which
--   has no task: the outcome then says null).
-- Ends the open ones; a key that is not a job record (missing, another type) is skipped, so
-- the other jobs still end. Publishes the outcome when there is a task to free or any job
-- ended. Returns the number of jobs failed.
local prefix_length = string.len('irisq:job:')
local outcomes = {}
local failed = ':' .. cjson.encode({status = 'failed', error = ARGV[2]})
local bytes = 0
for i = 4, #KEYS do
  local key = KEYS[i]
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local status = redis.call('HGET', key, 'status')
    if status == 'queued' or status == 'running' then
      redis.call('HSET', key, 'status', 'failed', 'finished_at', ARGV[1], 'error', ARGV[2])
      local id = string.sub(key, prefix_length + 1)
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZADD', KEYS[2], ARGV[1], id)
      bytes = bytes + redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')
      outcomes[#outcomes + 1] = cjson.encode(id) .. failed
    end
  end
end
if bytes > 0 then redis.call('INCRBY', KEYS[3], bytes) end
if ARGV[4] ~= '' or #outcomes > 0 then
  local task_id = 'null'
  if ARGV[4] ~= '' then task_id = cjson.encode(ARGV[4]) end
  redis.call('PUBLISH', ARGV[3],
    '{"task_id":' .. task_id .. ',"jobs":{' .. table.concat(outcomes, ',') .. '}}')
end
return #outcomes
