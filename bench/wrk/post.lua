-- cached / uncached / batch: POST /predict; ITEMS items per request, RANDOM for fresh ones.
-- Configured by the runner through wrk's script arguments: ITEMS RANDOM (e.g. "100 1").
local items_per_request, random_items = 1, false
local fixed = '{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}'
local counted = 0

function init(args)
  items_per_request = tonumber(args[1] or "1")
  random_items = (args[2] == "1")
  wrk.method = "POST"
  wrk.path = "/predict"
  wrk.headers["Content-Type"] = "application/json"
  if not random_items then
    local parts = {}
    for i = 1, items_per_request do parts[i] = fixed end
    wrk.body = '{"items":[' .. table.concat(parts, ",") .. ']}'
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  if random_items then
    local parts = {}
    for i = 1, items_per_request do parts[i] = random_item() end
    return wrk.format(nil, "/predict", nil, '{"items":[' .. table.concat(parts, ",") .. ']}')
  end
  return wrk.format()
end

function response(status, headers, body)
  if status == 200 then
    counted = counted + items_per_request
    items = counted
  else
    bad = (bad or 0) + 1
  end
end
