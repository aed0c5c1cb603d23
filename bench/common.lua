-- Shared by the wrk scripts in bench/: a per-thread id (`tid`, from 1; wrk runs setup and then
-- init thread by thread, so the thread count comes from $BENCH_THREADS), a count of answers by
-- status, and a summary (rate, latency percentiles, non-2xx) printed by done(). Loaded with dofile().

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

statuses = {}
non2xx = 0

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx <= 3 then io.stderr:write("non-2xx ", status, ": ", body:sub(1, 300), "\n") end
  end
end

function done(summary, latency, requests)
  local total, bad, by = 0, 0, {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    for s, n in pairs(t:get("statuses")) do by[s] = (by[s] or 0) + n end
    local ex = t:get("exhausted")
    if ex and ex > 0 then io.write(string.format("EXHAUSTED thread %d: %d requests over its share\n", t:get("tid"), ex)) end
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  local parts = {}
  for s, n in pairs(by) do table.insert(parts, s .. "=" .. n) end
  table.sort(parts)
  io.write("STATUSES ", table.concat(parts, " "), "\n")
end
