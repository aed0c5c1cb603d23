-- GET /v1/tenants/$BENCH_TENANT/customers/{id} for ids drawn at random from $BENCH_IDS.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local ids = {}
local prefix

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  -- Each wrk process of a run (one per node) draws its own customers.
  math.randomseed(os.time() * 1000 + tid + 100 * (tonumber(os.getenv("BENCH_NODE")) or 0))
  prefix = "/v1/tenants/" .. os.getenv("BENCH_TENANT") .. "/customers/"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
  all_started()
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
