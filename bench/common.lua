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

-- wrk starts each thread as soon as its init() returns and only then calls the next thread's
-- init(), but times the run from the last thread's start: a slow init (shopify_hook.lua reads
-- gigabytes) lets the threads before it send requests that wrk's own "Requests/sec" counts
-- against a duration that leaves them out. Each script's init() ends with all_started(): the
-- last thread's creates $BENCH_READY, and a thread leaves the answers it gets before it sees
-- that file out of RESULT's count and rate (`early=`; their latencies stay in the percentiles).
-- Without $BENCH_READY every answer counts.
local ready_file = os.getenv("BENCH_READY")
local go = ready_file == nil
counted = 0
early = 0

function all_started()
  if ready_file and tid == tonumber(os.getenv("BENCH_THREADS")) then
    assert(io.open(ready_file, "w")):close()
    go = true
  end
end

function response(status, headers, body)
  if go then
    counted = counted + 1
  else
    early = early + 1
    if early % 32 == 0 then
      local f = io.open(ready_file)
      if f then
        f:close()
        go = true
      end
    end
  end
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx <= 3 then io.stderr:write("non-2xx ", status, ": ", body:sub(1, 300), "\n") end
  end
end

function done(summary, latency, requests)
  local total, bad, by, skipped = 0, 0, {}, 0
  for _, t in ipairs(threads) do
    total = total + t:get("counted")
    skipped = skipped + t:get("early")
    bad = bad + t:get("non2xx")
    for s, n in pairs(t:get("statuses")) do by[s] = (by[s] or 0) + n end
    local ex = t:get("exhausted")
    if ex and ex > 0 then io.write(string.format("EXHAUSTED thread %d: %d requests over its share\n", t:get("tid"), ex)) end
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d early=%d seconds=%.2f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    total, skipped, secs, total / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  local parts = {}
  for s, n in pairs(by) do table.insert(parts, s .. "=" .. n) end
  table.sort(parts)
  io.write("STATUSES ", table.concat(parts, " "), "\n")
end
