-- The sweeper's look at open jobs whose deadline has passed.
-- KEYS: the open jobs' index, then the jobs' keys. ARGV: now, then the jobs' ids.
-- Re-checks each deadline, so two gateways sweeping at once act once. A job still open is
-- returned (the gateway fails it with fail_jobs.lua); an index entry whose record is missing,
-- finished or not a job record (written by someone else) is dropped. Returns the ids.
local now = tonumber(ARGV[1])
local overdue = {}
for i = 2, #KEYS do
  local id = ARGV[i]
  local deadline = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if deadline and deadline <= now then
    local status = false
    if redis.call('TYPE', KEYS[i])['ok'] == 'hash' then
      status = redis.call('HGET', KEYS[i], 'status')
    end
    if status == 'queued' or status == 'running' then
      overdue[#overdue + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
return overdue
