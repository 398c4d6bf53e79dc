-- A task's results: each open job done, each item cached, the model announced, then the
-- outcome published. One call, so a gateway that reads the outcome finds the records written.
-- KEYS: the model key, the open jobs' index, the finished jobs' index, their bytes, the m
--   jobs' keys, then the items' cache keys.
-- ARGV: m, the cache TTL, the finish time, the model TTL, the model version, the model
--   metadata (JSON), the done channel, the task id, the version as JSON, the m jobs' results
--   (JSON lists), the m jobs' counts per class (JSON objects), then one value per cache key.
-- Returns the number of jobs finished.
-- The outcome is its JSON line, then the finished jobs' results, each at the [start, end]
-- its outcome gives (contract/messages.py): the results are copied, never re-encoded.
local m = tonumber(ARGV[1])
local prefix_length = string.len('irisq:job:')
redis.call('SET', KEYS[1], ARGV[6], 'EX', ARGV[4])
local outcomes, tail, position, bytes = {}, {}, 0, 0
local done = ':{"status":"done","model_version":' .. ARGV[9] .. ',"counts":'
for i = 1, m do
  local key = KEYS[4 + i]
  local status = redis.call('HGET', key, 'status')
  -- A finished job is never changed again (a task run twice).
  if status == 'queued' or status == 'running' then
    local results = ARGV[9 + i]
    redis.call('HSET', key, 'status', 'done', 'finished_at', ARGV[3],
      'model_version', ARGV[5], 'results', results)
    local id = string.sub(key, prefix_length + 1)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZADD', KEYS[3], ARGV[3], id)
    bytes = bytes + redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')
    local finish = position + string.len(results)
    outcomes[#outcomes + 1] = cjson.encode(id) .. done .. ARGV[9 + m + i] ..
      ',"results":[' .. string.format('%d,%d', position, finish) .. ']}'
    tail[#tail + 1] = results
    position = finish
  end
end
if bytes > 0 then redis.call('INCRBY', KEYS[4], bytes) end
local value = 9 + 2 * m
for i = 5 + m, #KEYS do
  value = value + 1
  redis.call('SET', KEYS[i], ARGV[value], 'EX', ARGV[2])
end
redis.call('PUBLISH', ARGV[7],
  '{"task_id":' .. cjson.encode(ARGV[8]) .. ',"jobs":{' .. table.concat(outcomes, ',') .. '}}\n'
  .. table.concat(tail))
return #outcomes
