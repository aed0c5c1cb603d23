#!/usr/bin/env bash
# Load benchmark of `kith serve` with wrk: customer reads, durable interaction writes and signed
# Shopify webhooks through the shopify-orders plugin, over a tenant of 100,000 customers, then
# the server's resident memory. See bench/README.md.
#
# Needs: target/release/kith, the shopify-orders component, wrk, curl, python3.
#   cargo build --release -p kith
#   cargo build --release -p kith --example axum_ceiling   # the ceiling GET customer is compared to
#   cargo build --release --target wasm32-unknown-unknown -p kith-plugin-shopify-orders
#   bench/http.sh
#
# Settings (environment): CUSTOMERS (100000), DURATION (30s), THREADS (2), CONNECTIONS (64),
# SHOPIFY_REQUESTS (150000 signed deliveries per webhook run; must outlast DURATION),
# HOOK_RUNS (2: the second run, with deliveries of its own, shows whether memory stays flat),
# STEPS ("get ceiling post hook": the steps to run), KEEP=1 keeps the temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KITH=${KITH:-$ROOT/target/release/kith}
CEILING=${CEILING:-$ROOT/target/release/examples/axum_ceiling}
WASM=${WASM:-$ROOT/target/wasm32-unknown-unknown/release/kith_plugin_shopify_orders.wasm}
CUSTOMERS=${CUSTOMERS:-100000}
DURATION=${DURATION:-30s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SHOPIFY_REQUESTS=${SHOPIFY_REQUESTS:-150000}
HOOK_RUNS=${HOOK_RUNS:-2}
STEPS=${STEPS:-get ceiling post hook}
step() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
TENANT=bench
SECRET=bench-shopify-secret
ADMIN=kith_bench_admin_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

TMP=$(mktemp -d /tmp/kith-bench.XXXXXX)
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
load() { printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# Starts the server on a free port; sets SERVER (pid) and BASE (http://ADDR).
start() {
  KITH_ADMIN_TOKEN=$ADMIN "$KITH" --data-dir "$TMP/data" serve --listen 127.0.0.1:0 \
    > "$TMP/serve.out" 2> "$TMP/serve.err" &
  SERVER=$!
  local addr=
  for _ in $(seq 200); do
    addr=$(sed -n 's/.*kith listening on http:\/\/\([^ ]*\).*/\1/p' "$TMP/serve.err" | head -1)
    [ -n "$addr" ] && break
    sleep 0.05
  done
  [ -n "$addr" ] || { cat "$TMP/serve.err" >&2; echo "server did not start" >&2; exit 1; }
  BASE=http://$addr
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }

# curl that fails on a non-2xx answer and shows the body.
api() {
  local out code
  out=$(curl -sS -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then echo "HTTP $code from $*: $out" >&2; exit 1; fi
  printf '%s' "$out"
}

wrk_run() { # name script [wrk args...]
  local name=$1 script=$2; shift 2
  say "$name"
  load
  local before switches
  before=$(cpu)
  switches=$(ctxt)
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s bench/$script $* $BASE"
  # RESULT's rate counts the answers after every thread started (bench/common.lua); wrk's own
  # Requests/sec also counts those the first threads got while a later one still loaded.
  rm -f "$TMP/ready"
  BENCH_DIR=$ROOT/bench BENCH_TENANT=$TENANT BENCH_KEY=$KEY BENCH_IDS=$TMP/ids.txt BENCH_READY=$TMP/ready \
    BENCH_THREADS=$THREADS BENCH_SHOPIFY=${SHOPIFY_FILE:-} \
    /usr/bin/time -f 'wrk (client) CPU: %U s user + %S s system' wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$ROOT/bench/$script" "$@" "$BASE" \
    | tee "$TMP/wrk.txt"
  # Per answer (RESULT's requests plus the early ones): what a rate cannot show on a VM whose
  # speed drifts from run to run. Switches are summed over the server's threads alive at both
  # ends (a blocking thread that exits takes its count with it).
  awk -v a="$(cpu)" -v b="$before" -v s1="$(ctxt)" -v s0="$switches" '/^RESULT/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      n = f["requests"] + f["early"] }
    END { printf "server CPU: %.1f s in this run", a - b
      if (n > 0) printf "; per answer: %.1f µs of CPU, %.2f context switches", (a - b) * 1e6 / n, (s1 - s0) / n
      print "" }' "$TMP/wrk.txt"
}
# The server's user+system CPU seconds so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$SERVER/stat"; }
# Context switches (voluntary and not) of every server thread so far.
ctxt() { cat /proc/"$SERVER"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }
rss() { grep -E 'VmRSS|VmHWM' "/proc/$SERVER/status" | tr -s ' \t' ' ' | paste -sd' '; }

echo "kith: $KITH ($(git -C "$ROOT" rev-parse --short HEAD)), $(nproc) cores, $(date -u +%FT%TZ)"
load

say "tenant and tenant key over the API"
start
api -X POST "$BASE/v1/tenants" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d "{\"slug\": \"$TENANT\", \"name\": \"Bench\", \"industry\": \"retail\"}" > /dev/null
KEY=$(api -X POST "$BASE/v1/tokens" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d "{\"kind\": \"tenant\", \"tenant\": \"$TENANT\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
stop

say "$CUSTOMERS customers with kith import (server stopped: import needs the data directory)"
python3 "$ROOT/bench/gen.py" customers "$CUSTOMERS" "$TMP/customers.csv"
/usr/bin/time -f 'import: %e s wall, %M KiB max RSS' \
  "$KITH" --data-dir "$TMP/data" import customers "$TMP/customers.csv" --tenant "$TENANT"
"$KITH" --data-dir "$TMP/data" export --tenant "$TENANT" --output "$TMP/export.jsonl"
python3 "$ROOT/bench/gen.py" ids "$TMP/export.jsonl" "$TMP/ids.txt"

if step hook; then
  for run in $(seq "$HOOK_RUNS"); do
    say "signed Shopify deliveries, run $run"
    python3 "$ROOT/bench/gen.py" shopify "$SHOPIFY_REQUESTS" "$SECRET" "$TMP/shopify-$run.txt" \
      $(( (run - 1) * SHOPIFY_REQUESTS ))
    ls -l "$TMP/shopify-$run.txt" | awk '{printf "%d deliveries, %.0f MB\n", '"$SHOPIFY_REQUESTS"', $5 / 1e6}'
  done
fi
# The generated files are gigabytes: written back to disk while the runs fsync, they would slow
# the store's commits and make the figures depend on the disk's backlog.
sync

start
echo "server pid $SERVER at $BASE; $(rss)"
FIRST=$(head -1 "$TMP/ids.txt")
api "$BASE/v1/tenants/$TENANT/customers/$FIRST" -H "Authorization: Bearer $KEY" | head -c 300; echo

if step get; then
  wrk_run "GET customer (random of $CUSTOMERS)" get_customer.lua | tee "$TMP/get.txt"
  echo "after reads: $(rss)"
fi

# The ceiling: axum answering the same route with this customer's JSON from memory, under the
# same wrk run (core/kith/examples/axum_ceiling.rs); Kith's reads as a share of it.
if ! step ceiling || ! step get; then
  :
elif [ -x "$CEILING" ]; then
  api "$BASE/v1/tenants/$TENANT/customers/$FIRST" -H "Authorization: Bearer $KEY" > "$TMP/body.json"
  "$CEILING" "$TMP/body.json" 127.0.0.1:0 2> "$TMP/ceiling.err" &
  CEILING_PID=$!
  for _ in $(seq 200); do
    CEILING_BASE=$(sed -n 's/^listening on //p' "$TMP/ceiling.err")
    [ -n "$CEILING_BASE" ] && break
    sleep 0.05
  done
  say "ceiling: axum, the same route and $(wc -c < "$TMP/body.json")-byte body from memory"
  load
  rm -f "$TMP/ready"
  BENCH_DIR=$ROOT/bench BENCH_TENANT=$TENANT BENCH_KEY=$KEY BENCH_IDS=$TMP/ids.txt BENCH_READY=$TMP/ready BENCH_THREADS=$THREADS \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$ROOT/bench/get_customer.lua" "$CEILING_BASE" \
    | tee "$TMP/ceiling.txt"
  kill "$CEILING_PID"; wait "$CEILING_PID" 2>/dev/null || true
  awk '/^RESULT/ {for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "rps") r[FILENAME] = kv[2]}} END {
      k = r[ARGV[1]]; c = r[ARGV[2]]; printf "GET customer: %.0f req/s = %.2f of the ceiling (%.0f req/s)\n", k, k / c, c }' \
    "$TMP/get.txt" "$TMP/ceiling.txt"
else
  echo "no ceiling server at $CEILING: cargo build --release -p kith --example axum_ceiling"
fi
if step post; then
  wrk_run "POST interaction (durable)" post_interaction.lua
  echo "after writes: $(rss)"
fi

if step hook; then
  say "shopify-orders plugin: upload and enable"
  api -X POST "$BASE/v1/plugins?wait=60" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/wasm' \
    --data-binary @"$WASM" | head -c 200; echo
  api -X POST "$BASE/v1/tenants/$TENANT/plugins" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"plugin\": \"kith.shopify-orders\", \"config\": {\"secret\": \"$SECRET\"}}" | head -c 200; echo
  for run in $(seq "$HOOK_RUNS"); do
    SHOPIFY_FILE=$TMP/shopify-$run.txt wrk_run \
      "POST signed Shopify orders/create webhook, run $run ($SHOPIFY_REQUESTS unique deliveries)" shopify_hook.lua
    echo "after webhooks, run $run: $(rss)"
  done
fi

say "check"
if step hook; then api "$BASE/v1/tenants/$TENANT/plugins/kith.shopify-orders" -H "Authorization: Bearer $KEY"; echo; fi
curl -s "$BASE/metrics" | grep '^kith_http_request_duration_seconds_count' || true
echo "server stderr (warnings and errors):"
# Without colours and timestamps, so that repeated lines count as one.
sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^[0-9T:.-]*Z //' "$TMP/serve.err" | grep -v 'kith listening' \
  | sort | uniq -c | sort -rn | head -20 || true

say "resident memory with $CUSTOMERS customers loaded, after the runs"
rss
# Where it is: the largest resident mappings (anonymous ones are heaps, thread stacks and the
# plugins' pooled instance memory; kith.redb is the store file, mapped or cached), and threads.
echo "threads: $(ls /proc/"$SERVER"/task | wc -l)"
awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6 ? $6 : "[anon]"); size = 0}
     /^Size:/ {size = $2}
     /^Rss:/ {if (name == "[anon]") name = sprintf("[anon, mappings of %d KiB]", size);
              rss[name] += $2; n[name]++; total += $2}
     END {for (k in rss) printf "%8.1f MB in %5d mappings  %s\n", rss[k] / 1024, n[k], k; printf "%8.1f MB in all\n", total / 1024}' \
  "/proc/$SERVER/smaps" | sort -rn | head -12
echo "server CPU: $(cpu) s in all"
du -h "$TMP/data/kith.redb"
load
