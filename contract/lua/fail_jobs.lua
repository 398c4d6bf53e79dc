#!lua flags=allow-oom
-- Jobs end as failed: a task's, when it fails, or the sweeper's overdue ones. `allow-oom`:
-- with Redis' memory full, jobs still end (a few fields, where the sweeper frees more).
-- KEYS: the deadlines index, then the jobs' keys.
-- ARGV: the finish time, the finished jobs' deadline, the error, the done channel, the task
--   id ('' for the sweeper, which has no task: the outcome then says null).
-- Ends the open ones; a key that is not a job record (missing, another type) is skipped, so
-- the other jobs still end. Publishes the outcome when there is a task to free or any job
-- ended. Returns the number of jobs failed.
local prefix_length = string.len('irisq:job:')
local outcomes = {}
local failed = ':' .. cjson.encode({status = 'failed', error = ARGV[3]})
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local status = redis.call('HGET', key, 'status')
    if status == 'queued' or status == 'running' then
      redis.call('HSET', key, 'status', 'failed', 'finished_at', ARGV[1], 'error', ARGV[3])
      local id = string.sub(key, prefix_length + 1)
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      outcomes[#outcomes + 1] = cjson.encode(id) .. failed
    end
  end
end
if ARGV[5] ~= '' or #outcomes > 0 then
  local task_id = 'null'
  if ARGV[5] ~= '' then task_id = cjson.encode(ARGV[5]) end
  redis.call('PUBLISH', ARGV[4],
    '{"task_id":' .. task_id .. ',"jobs":{' .. table.concat(outcomes, ',') .. '}}')
end
return #outcomes
