-- async: submit with Prefer: respond-async, then poll the job until done; repeat.
-- Every request (submit or poll) counts in wrk's figures; finished jobs count as items.
-- Configured by the runner through wrk's script arguments: ITEMS per job (default 1).
local job_url = nil
local finished = 0
local items_per_job = 1

function init(args)
  items_per_job = tonumber(args[1] or "1")
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  if job_url then
    return wrk.format("GET", job_url, {}, nil)
  end
  local parts = {}
  for i = 1, items_per_job do parts[i] = random_item() end
  -- A headers table given to wrk.format replaces wrk.headers: name Content-Type again.
  return wrk.format("POST", "/predict",
    {["Content-Type"] = "application/json", ["Prefer"] = "respond-async"},
    '{"items":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  if status == 202 then
    job_url = body:match('"status_url":"([^"]+)"')
  elseif status == 200 and (job_url == nil or body:find('"status":"done"', 1, true)) then
    job_url = nil
    finished = finished + 1
    items = finished * items_per_job
    jobs = finished
  elseif status == 200 then
    -- still queued or running: poll again
  else
    bad = (bad or 0) + 1
    job_url = nil
  end
end
