-- The lookups of a batch of requests, each one's job opened when any of its items is missing.
-- KEYS: the open jobs' index, the rollout hash; then per lookup: its items' cache keys (none
--   when no model is known yet), its job key.
-- ARGV: the job timeout in seconds, the model version the cache keys carry ('' for none);
--   then per lookup: its cache key count, its item count, its creation time, and 1 when it
--   may open a job (0 while the store is full).
-- Returns {1, per lookup the values of its cache keys, false for a miss (an empty list
-- without keys: every item is a miss, and a large request's thousand misses cost no reply)};
-- or, when the version is not the served one, {0, the served version or ''} and nothing is
-- read or written: cache hits are answered only for the version served now.
-- A job is opened queued, with the request's cached entries (null for a miss), and its
-- deadline is its creation time plus the timeout (contract/jobs.py). A lookup that may not
-- open one writes nothing: its misses are refused by the gateway.
local timeout = tonumber(ARGV[1])
local open_jobs = KEYS[1]
local served = redis.call('HGET', KEYS[2], 'served') or ''
if served ~= ARGV[2] then return {0, served} end
local prefix_length = string.len('irisq:job:')
local results = {}
local base = 2
for arg = 3, #ARGV, 4 do
  local n_keys, n = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1])
  local found, parts, missing, hit = {}, {}, n_keys < n, false
  -- MGET in chunks: Lua's unpack() has a stack limit of a few thousand values.
  for first = 1, n_keys, 4000 do
    local last = math.min(first + 3999, n_keys)
    local chunk = redis.call('MGET', unpack(KEYS, base + first, base + last))
    for i = first, last do
      local value = chunk[i - first + 1]
      found[i] = value
      if value then parts[i] = value; hit = true else parts[i] = 'null'; missing = true end
    end
  end
  if missing and ARGV[arg + 3] == '1' then
    local job = KEYS[base + n_keys + 1]
    -- Items without a key are misses: nulls after the looked-up entries.
    local cached = table.concat(parts, ',')
    if n > n_keys then
      cached = cached .. (n_keys > 0 and ',' or '') .. string.rep('null,', n - n_keys - 1) .. 'null'
    end
    redis.call('HSET', job, 'status', 'queued', 'created_at', ARGV[arg + 2],
      'cached', '[' .. cached .. ']')
    redis.call('ZADD', open_jobs, tonumber(ARGV[arg + 2]) + timeout,
      string.sub(job, prefix_length + 1))
    -- The version of its cached entries, when it has any: its computed items may come from
    -- another (a canary), and its answer then labels each item.
    if hit then redis.call('HSET', job, 'cached_version', ARGV[2]) end
  end
  results[#results + 1] = found
  base = base + n_keys + 1
end
return {1, results}
