-- async: submit with Prefer: respond-async, then poll the job until done; repeat.
-- Every request (submit or poll) counts in wrk's figures; finished jobs count as items.
local job_url = nil
local finished = 0

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  if job_url then
    return wrk.format("GET", job_url, {}, nil)
  end
  -- A headers table given to wrk.format replaces wrk.headers: name Content-Type again.
  return wrk.format("POST", "/predict",
    {["Content-Type"] = "application/json", ["Prefer"] = "respond-async"},
    '{"items":[' .. random_item() .. ']}')
end

function response(status, headers, body)
  if status == 202 then
    job_url = body:match('"status_url":"([^"]+)"')
  elseif status == 200 and (job_url == nil or body:find('"status":"done"', 1, true)) then
    job_url = nil
    finished = finished + 1
    items = finished
    jobs = finished
  elseif status == 200 then
    -- still queued or running: poll again
  else
    bad = (bad or 0) + 1
    job_url = nil
  end
end
