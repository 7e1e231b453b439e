-- wrk script of bench/scale.py's own scenarios: requests alternate a PATCH of an agent and a GET of it.
-- usage: wrk ... -s bench/scale.lua URL -- SCENARIO DATAFILE
--   R1: the GET carries the newest Engine-Consistency-Token this thread has received (read-your-writes
--       with a replica). wrk keeps one Lua state per thread, not per connection: the GET may reach the
--       server before the PATCH it follows has answered, so it is a read right after a write, not a
--       check that each read sees its own write (tests/test_db_replicas.py checks that)
--   R2: the same requests without the token
local items = {}
local scenario
local n = 0
local last, token  -- the agent just written, and the write's consistency token

function init(args)
  scenario = args[1]
  for line in io.lines(args[2]) do
    local bearer, agent = line:match("(%S+) (%S+)")
    items[#items + 1] = {bearer, agent}
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  n = n + 1
  if n % 2 == 1 then
    last = items[math.random(#items)]
    local headers = {["Authorization"] = "Bearer " .. last[1], ["Content-Type"] = "application/json"}
    return wrk.format("PATCH", "/api/agents/" .. last[2], headers, '{"name":"renamed ' .. n .. '"}')
  end
  local headers = {["Authorization"] = "Bearer " .. last[1]}
  if scenario == "R1" and token then
    headers["Engine-Consistency-Token"] = token
  end
  return wrk.format("GET", "/api/agents/" .. last[2], headers)
end

function response(status, headers, body)
  token = headers["Engine-Consistency-Token"] or token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
