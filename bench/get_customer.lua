-- GET /v1/tenants/$BENCH_TENANT/customers/{id} for ids drawn at random from $BENCH_IDS.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local ids = {}
local prefix

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  math.randomseed(os.time() * 1000 + tid)
  prefix = "/v1/tenants/" .. os.getenv("BENCH_TENANT") .. "/customers/"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
