-- Signed Shopify orders/create deliveries from $BENCH_SHOPIFY (bench/gen.py shopify), posted to
-- /v1/tenants/$BENCH_TENANT/hooks/kith.shopify-orders. Thread k of n sends lines k, k+n, ...,
-- each once, so every request carries a delivery id the server has not seen. A thread that runs
-- out stops and says so (then the file was too short for the run: the rate is a lower bound).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local reqs = {}
local next_req = 1
exhausted = 0

function init(args)
  local path = "/v1/tenants/" .. os.getenv("BENCH_TENANT") .. "/hooks/kith.shopify-orders"
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local n = 0
  for line in io.lines(os.getenv("BENCH_SHOPIFY")) do
    if n % nthreads == tid - 1 then
      local id, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["X-Shopify-Topic"] = "orders/create",
        ["X-Shopify-Hmac-Sha256"] = sig,
        ["X-Shopify-Webhook-Id"] = id,
        ["X-Shopify-Shop-Domain"] = "bench.myshopify.com",
      }, body)
    end
    n = n + 1
  end
  all_started()
end

function request()
  local r = reqs[next_req]
  if r == nil then
    exhausted = exhausted + 1
    wrk.thread:stop()
    return reqs[#reqs]
  end
  next_req = next_req + 1
  return r
end
