#!lua flags=allow-oom
-- The sweeper's pass over jobs due by now: deletes expired records, finds overdue open jobs.
-- `allow-oom`: with Redis' memory full of jobs, expired records are still freed.
-- KEYS: the deadlines index, then the jobs' keys. ARGV: now, then the jobs' ids.
-- Re-checks each deadline, so two gateways sweeping at once act once. A finished record
-- past its deadline is deleted; a key that is not a job record (written by someone else) is
-- left alone and dropped from the index. Returns {the ids of overdue open jobs, the number
-- of records deleted}; the gateway fails those jobs with fail_jobs.lua.
local now = tonumber(ARGV[1])
local overdue, deleted = {}, 0
for i = 2, #KEYS do
  local id = ARGV[i]
  local deadline = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if deadline and deadline <= now then
    local kind = redis.call('TYPE', KEYS[i])['ok']
    local status = false
    if kind == 'hash' then status = redis.call('HGET', KEYS[i], 'status') end
    if kind ~= 'hash' and kind ~= 'none' then
      redis.call('ZREM', KEYS[1], id)
    elseif status == 'queued' or status == 'running' then
      overdue[#overdue + 1] = id
    else
      redis.call('DEL', KEYS[i])
      redis.call('ZREM', KEYS[1], id)
      deleted = deleted + 1
    end
  end
end
return {overdue, deleted}
