-- Appended to every scenario: a random flower, per-thread counters, and one JSON line of
-- figures at the end (wrk's own summary stays on stdout above it).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- 4 decimals: ~1e16 combinations, so a random item is a cache miss.
local function random_values()
  return 4 + math.random() * 4, 2 + math.random() * 2.5, 1 + math.random() * 6,
    0.1 + math.random() * 2.4
end

function random_item()
  return string.format(
    '{"sepal_length":%.4f,"sepal_width":%.4f,"petal_length":%.4f,"petal_width":%.4f}',
    random_values())
end

-- The same flower as four numbers, for a tensor's flat data.
function random_row()
  return string.format('%.4f,%.4f,%.4f,%.4f', random_values())
end

function done(summary, latency, requests)
  local items, jobs, bad = 0, 0, 0
  for _, t in ipairs(threads) do
    items = items + (t:get("items") or 0)
    jobs = jobs + (t:get("jobs") or 0)
    bad = bad + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'IRISQ_BENCH {"requests":%d,"duration_us":%d,"items":%d,"jobs":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d,"unexpected":%d}\n',
    summary.requests, summary.duration, items, jobs, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, bad))
end
