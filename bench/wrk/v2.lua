-- v2: POST /v2/models/iris/infer, the Open Inference Protocol's REST face: one FP64 tensor of
-- ROWS random rows, flat, asking for the three outputs. irisq's gateway and the in-process
-- reference (bench/reference_v2.py) get the same bodies.
-- Configured by the runner through wrk's script arguments: ROWS (e.g. "100").
local rows = 1
local counted = 0
local head = ""
local tail = ']}],"outputs":[{"name":"label"},{"name":"probabilities"},{"name":"class_index"}]}'

function init(args)
  rows = tonumber(args[1] or "1")
  wrk.method = "POST"
  wrk.path = "/v2/models/iris/infer"
  wrk.headers["Content-Type"] = "application/json"
  head = '{"inputs":[{"name":"input","shape":[' .. rows .. ',4],"datatype":"FP64","data":['
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local parts = {}
  for i = 1, rows do parts[i] = random_row() end
  return wrk.format(nil, nil, nil, head .. table.concat(parts, ",") .. tail)
end

function response(status, headers, body)
  if status == 200 then
    counted = counted + rows
    items = counted
  else
    bad = (bad or 0) + 1
  end
end
