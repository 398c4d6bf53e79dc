-- A task starts: its open jobs are marked running, and its start is announced.
-- KEYS: the jobs' keys.
-- ARGV: the start time, the done channel, the task's started message (it names the task's
-- jobs and carries the same start time, contract/messages.py), the task id.
-- Returns the positions (1-based) of the jobs still open; only those run. With none open (a
-- task run again after it finished) the task's outcome goes out at once, with no jobs, so
-- the gateway frees the task's slot.
local open = {}
for i = 1, #KEYS do
  local status = redis.call('HGET', KEYS[i], 'status')
  -- Only open jobs are written: HSET on a missing key would create it.
  if status == 'queued' or status == 'running' then
    redis.call('HSET', KEYS[i], 'status', 'running', 'started_at', ARGV[1])
    open[#open + 1] = i
  end
end
if #open > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
else
  redis.call('PUBLISH', ARGV[2], cjson.encode({task_id = ARGV[4], jobs = {}}))
end
return open
