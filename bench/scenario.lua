-- wrk script shared by the engine and the reference: same requests, same data, same order of randomness.
-- usage: wrk ... -s bench/scenario.lua URL -- SCENARIO DATAFILE
local items = {}
local scenario
local prompt = string.rep("You are a careful assistant. Answer briefly and cite sources. ", 5)
local BULK_ROWS = 1000  -- W7: agents per bulk create

local function agent_body(name)  -- W3's agent; W7 sends BULK_ROWS of them in one array
  return '{"name":"' .. name .. '","system_prompt":"' .. prompt .. '",'
    .. '"parameters":{"temperature":0.7,"max_tokens":512,"model":"m-1"},'
    .. '"tools":[{"name":"search","description":"web search"},{"name":"calc"}]}'
end

local function bulk_body(n)
  local parts = {}
  for i = 1, BULK_ROWS do
    parts[i] = agent_body("bulk agent " .. n .. "." .. i)
  end
  return "[" .. table.concat(parts, ",") .. "]"
end

function init(args)
  scenario = args[1]
  for line in io.lines(args[2]) do
    local token, agent, team, member, admin, word = line:match("(%S+) (%S+) (%S+) (%S+) (%S+) (%S+)")
    items[#items + 1] = {token, agent, team, member, admin, word}
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

local n = 0
function request()
  n = n + 1
  local item = items[math.random(#items)]
  local headers = {["Authorization"] = "Bearer " .. item[1]}
  if scenario == "W1" then
    return wrk.format("GET", "/api/agents/" .. item[2], headers)
  elseif scenario == "W2" then
    return wrk.format("GET", "/api/agents?status=active&sort=-created_at&limit=20", headers)
  elseif scenario == "W3" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/agents", headers, agent_body("bench agent " .. n))
  elseif scenario == "W4" or scenario == "W11" then  -- W11: the same PATCH, history on vs off
    headers["Content-Type"] = "application/json"
    return wrk.format("PATCH", "/api/agents/" .. item[2], headers, '{"name":"renamed ' .. n .. '","status":"active"}')
  elseif scenario == "W5" then
    return wrk.format("GET", "/api/teams/" .. item[3] .. "?include=members,agents", headers)
  elseif scenario == "W7" then  -- bulk create: BULK_ROWS agents in one request (engine only)
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/agents", headers, bulk_body(n))
  elseif scenario == "W6" then  -- a member-only user: every agent listed is shared with one of their teams
    return wrk.format("GET", "/api/agents?limit=20", {["Authorization"] = "Bearer " .. item[4]})
  elseif scenario == "W8" then  -- an admin: every one of the agents is counted
    return wrk.format("GET", "/api/agents?count=exact&limit=20", {["Authorization"] = "Bearer " .. item[5]})
  elseif scenario == "W9" then
    return wrk.format("GET", "/api/agents?count=estimated&limit=20", {["Authorization"] = "Bearer " .. item[5]})
  elseif scenario == "W10" then  -- full-text search of the caller's own and shared agents, by relevance
    return wrk.format("GET", "/api/agents?q=" .. item[6] .. "&limit=20", headers)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
