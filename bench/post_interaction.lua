-- POST /v1/tenants/$BENCH_TENANT/interactions (a durable write) for customers drawn at random
-- from $BENCH_IDS.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local ids = {}
local path

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  -- Each wrk process of a run (one per node) draws its own customers.
  math.randomseed(os.time() * 1000 + tid + 100 * (tonumber(os.getenv("BENCH_NODE")) or 0))
  path = "/v1/tenants/" .. os.getenv("BENCH_TENANT") .. "/interactions"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
  wrk.headers["Content-Type"] = "application/json"
  all_started()
end

function request()
  local body = '{"customer":"' .. ids[math.random(#ids)] ..
    '","channel":"email","kind":"note","body":"Asked about delivery times for order ' ..
    math.random(1000000) .. '; replied with the tracking link."}'
  return wrk.format("POST", path, nil, body)
end
