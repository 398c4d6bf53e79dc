-- The lookups of a batch of requests, each one's job opened when any of its items is missing.
-- KEYS: the open jobs' index; then per lookup: its items' cache keys (none when no model is
--   known yet), its job key.
-- ARGV: the job timeout in seconds; then per lookup: its cache key count, its item count,
--   its creation time, and 1 when it may open a job (0 while the store is full).
-- Returns per lookup the cached values, false for a miss (every item, without cache keys).
-- A job is opened queued, with the request's cached entries (null for a miss), and its
-- deadline is its creation time plus the timeout (contract/jobs.py). A lookup that may not
-- open one writes nothing: its misses are refused by the gateway.
local timeout = tonumber(ARGV[1])
local open_jobs = KEYS[1]
local prefix_length = string.len('irisq:job:')
local results = {}
local base = 1
for arg = 2, #ARGV, 4 do
  local n_keys, n = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1])
  local found, parts, missing = {}, {}, n_keys < n
  for i = 1, n do found[i] = false; parts[i] = 'null' end
  -- MGET in chunks: Lua's unpack() has a stack limit of a few thousand values.
  for first = 1, n_keys, 4000 do
    local last = math.min(first + 3999, n_keys)
    local chunk = redis.call('MGET', unpack(KEYS, base + first, base + last))
    for i = first, last do
      local value = chunk[i - first + 1]
      found[i] = value
      if value then parts[i] = value else missing = true end
    end
  end
  if missing and ARGV[arg + 3] == '1' then
    local job = KEYS[base + n_keys + 1]
    redis.call('HSET', job, 'status', 'queued', 'created_at', ARGV[arg + 2],
      'cached', '[' .. table.concat(parts, ',') .. ']')
    redis.call('ZADD', open_jobs, tonumber(ARGV[arg + 2]) + timeout,
      string.sub(job, prefix_length + 1))
  end
  results[#results + 1] = found
  base = base + n_keys + 1
end
return results
