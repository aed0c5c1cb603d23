#!/usr/bin/env bash
# The same load on each store, side by side, in one run: the embedded redb store, PostgreSQL
# with one node, and PostgreSQL with two nodes (clients split evenly between them). For each:
# 100,000 customers, GET customer, durable POST interaction, signed Shopify webhooks (wrk, 64
# connections in all) and a full rescore of every customer with kith.rfm. See bench/README.md.
#
# Needs: target/release/kith, the shopify-orders and rfm-scorer components, wrk, curl, python3,
# psql, and a PostgreSQL server (PG_URL, default postgres://postgres@127.0.0.1:5432/test) where
# the script may create and drop a database.
#   cargo build --release -p kith
#   cargo test -p kith-tests --no-run     # builds the plugin components (target/plugin-artifacts)
#   bench/stores.sh
#
# Settings (environment): STORES ("redb postgres postgres2"), CUSTOMERS (100000), DURATION
# (20s), THREADS (2), CONNECTIONS (64, split between nodes), SHOPIFY_REQUESTS (120000),
# PG_POOL (16 connections per node), KEEP=1 keeps the temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KITH=${KITH:-$ROOT/target/release/kith}
ART=$ROOT/target/plugin-artifacts/wasm32-unknown-unknown/release
pick() { if [ -f "$ROOT/target/wasm32-unknown-unknown/release/$1" ]; then echo "$ROOT/target/wasm32-unknown-unknown/release/$1"; else echo "$ART/$1"; fi; }
SHOPIFY_WASM=${SHOPIFY_WASM:-$(pick kith_plugin_shopify_orders.wasm)}
RFM_WASM=${RFM_WASM:-$(pick kith_plugin_rfm_scorer.wasm)}
STORES=${STORES:-"redb postgres postgres2"}
CUSTOMERS=${CUSTOMERS:-100000}
DURATION=${DURATION:-20s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SHOPIFY_REQUESTS=${SHOPIFY_REQUESTS:-120000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_POOL=${PG_POOL:-16}
TENANT=bench
SECRET=bench-shopify-secret
ADMIN=kith_bench_admin_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

TMP=$(mktemp -d /tmp/kith-stores.XXXXXX)
PIDS=()
BASES=()
DBS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  for d in "${DBS[@]}"; do psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
load() { printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"; }
# CPU seconds (user + system) of a process, and of every PostgreSQL process together.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }
pg_cpu() {
  local hz total=0 t
  hz=$(getconf CLK_TCK)
  for f in /proc/[0-9]*/stat; do
    t=$(awk -v hz="$hz" '$2 == "(postgres)" {printf "%d", ($14 + $15)}' "$f" 2>/dev/null || true)
    [ -n "$t" ] && total=$((total + t))
  done
  awk -v t="$total" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz}'
}
servers_cpu() { local s=0 p; for p in "${PIDS[@]}"; do s=$(awk -v a="$s" -v b="$(cpu_of "$p")" 'BEGIN {print a + b}'); done; echo "$s"; }
rss_all() { local p; for p in "${PIDS[@]}"; do grep -E 'VmRSS' "/proc/$p/status" | tr -s ' \t' ' '; done | paste -sd' '; }

api() {
  local out code
  out=$(curl -sS -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then echo "HTTP $code from $*: $out" >&2; exit 1; fi
  printf '%s' "$out"
}

# start NODES STORE_ARGS...: starts NODES servers; sets PIDS and BASES.
start() {
  local n=$1; shift
  PIDS=(); BASES=()
  for i in $(seq 0 $((n - 1))); do
    KITH_ADMIN_TOKEN=$ADMIN KITH_LOG=warn "$KITH" "$@" --data-dir "$DATA/node$i" serve \
      --listen 127.0.0.1:0 --config "$DATA/kith.toml" > "$DATA/serve$i.out" 2> "$DATA/serve$i.err" &
    PIDS+=($!)
    local addr=
    for _ in $(seq 400); do
      addr=$(sed -n 's/.*kith listening on http:\/\/\([^ ]*\).*/\1/p' "$DATA/serve$i.err" 2>/dev/null | head -1 || true)
      [ -n "$addr" ] && break
      sleep 0.05
    done
    [ -n "$addr" ] || { cat "$DATA/serve$i.err" >&2; echo "server did not start" >&2; exit 1; }
    BASES+=("http://$addr")
  done
}
stop() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || true; done; PIDS=(); BASES=(); }

# wrk_all NAME SCRIPT: the connections split evenly over the nodes, one wrk per node at once;
# prints each wrk's RESULT line and the sum.
wrk_all() {
  local name=$1 script=$2 n=${#BASES[@]} i
  say "$CONFIG: $name"
  load
  local before pg_before
  before=$(servers_cpu); pg_before=$(pg_cpu)
  local wrks=()
  for i in $(seq 0 $((n - 1))); do
    rm -f "$DATA/ready.$i"
    BENCH_DIR=$ROOT/bench BENCH_TENANT=$TENANT BENCH_KEY=$KEY BENCH_IDS=$SHARED/ids.txt \
      BENCH_READY=$DATA/ready.$i BENCH_NODE=$i BENCH_THREADS=$THREADS BENCH_SHOPIFY=$SHARED/shopify.$n.$i.txt \
      wrk -t"$THREADS" -c$((CONNECTIONS / n)) -d"$DURATION" --latency -s "$ROOT/bench/$script" \
      "${BASES[$i]}" > "$DATA/wrk.$script.$i.txt" 2>&1 &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  for i in $(seq 0 $((n - 1))); do
    grep -E '^(RESULT|STATUSES|EXHAUSTED|non-2xx)' "$DATA/wrk.$script.$i.txt" | sed "s/^/node $i: /"
  done
  cat "$DATA"/wrk."$script".*.txt | awk '/^RESULT/ {for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == "rps") r += kv[2]; if (kv[1] == "requests") q += kv[2]; if (kv[1] == "non2xx") b += kv[2]}} END {printf "SUM rps=%.0f requests=%d non2xx=%d\n", r, q, b}'
  printf 'kith CPU: %s s, PostgreSQL CPU: %s s in this run\n' \
    "$(awk -v a="$(servers_cpu)" -v b="$before" 'BEGIN {printf "%.1f", a - b}')" \
    "$(awk -v a="$(pg_cpu)" -v b="$pg_before" 'BEGIN {printf "%.1f", a - b}')"
}

echo "kith: $KITH ($(git -C "$ROOT" rev-parse --short HEAD)), $(nproc) cores, $(date -u +%FT%TZ)"
load
SHARED=$TMP/shared
mkdir -p "$SHARED"
say "generating $CUSTOMERS customers and $SHOPIFY_REQUESTS signed Shopify deliveries"
python3 "$ROOT/bench/gen.py" customers "$CUSTOMERS" "$SHARED/customers.csv"
python3 "$ROOT/bench/gen.py" shopify "$SHOPIFY_REQUESTS" "$SECRET" "$SHARED/shopify.txt"
# Each node gets its own deliveries (a repeated delivery id would be answered from the store).
cp "$SHARED/shopify.txt" "$SHARED/shopify.1.0.txt"
awk -v d="$SHARED" '{print > (d "/shopify.2." (NR % 2) ".txt")}' "$SHARED/shopify.txt"

for CONFIG in $STORES; do
  DATA=$TMP/$CONFIG
  mkdir -p "$DATA"
  printf '[plugins]\n' > "$DATA/kith.toml"
  case $CONFIG in
    redb) NODES=1; STORE_ARGS=() ;;
    postgres|postgres2)
      [ "$CONFIG" = postgres2 ] && NODES=2 || NODES=1
      DB=kith_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
      psql -q "$PG_URL" -c "CREATE DATABASE $DB"
      DBS+=("$DB")
      STORE_ARGS=(--database-url "${PG_URL%/*}/$DB")
      printf 'database_pool_size = %d\n[plugins]\n' "$PG_POOL" > "$DATA/kith.toml" ;;
    *) echo "unknown store $CONFIG (redb, postgres, postgres2)" >&2; exit 2 ;;
  esac

  say "$CONFIG: tenant, key and $CUSTOMERS customers ($NODES node(s))"
  start 1 "${STORE_ARGS[@]}"
  api -X POST "${BASES[0]}/v1/tenants" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "{\"slug\": \"$TENANT\"}" > /dev/null
  KEY=$(api -X POST "${BASES[0]}/v1/tokens" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "{\"kind\": \"tenant\", \"tenant\": \"$TENANT\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  stop
  /usr/bin/time -f 'import: %e s wall, %M KiB max RSS' \
    "$KITH" "${STORE_ARGS[@]}" --data-dir "$DATA/node0" import customers "$SHARED/customers.csv" --tenant "$TENANT"
  "$KITH" "${STORE_ARGS[@]}" --data-dir "$DATA/node0" export --tenant "$TENANT" --output "$DATA/export.jsonl"
  python3 "$ROOT/bench/gen.py" ids "$DATA/export.jsonl" "$SHARED/ids.txt"

  start "$NODES" "${STORE_ARGS[@]}"
  echo "servers ${PIDS[*]} at ${BASES[*]}; $(rss_all)"
  wrk_all "GET customer (random of $CUSTOMERS)" get_customer.lua
  wrk_all "POST interaction (durable)" post_interaction.lua

  api -X POST "${BASES[0]}/v1/plugins?wait=60" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/wasm' \
    --data-binary @"$SHOPIFY_WASM" > /dev/null
  api -X POST "${BASES[0]}/v1/tenants/$TENANT/plugins" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"plugin\": \"kith.shopify-orders\", \"config\": {\"secret\": \"$SECRET\"}}" > /dev/null
  wrk_all "POST signed Shopify orders/create webhook" shopify_hook.lua

  say "$CONFIG: full rescore of every customer with kith.rfm"
  api -X POST "${BASES[0]}/v1/plugins?wait=60" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/wasm' \
    --data-binary @"$RFM_WASM" > /dev/null
  before=$(servers_cpu); pg_before=$(pg_cpu)
  started=$(date +%s.%N)
  JOB=$(api -X POST "${BASES[0]}/v1/tenants/$TENANT/plugins" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"plugin": "kith.rfm", "config": {"currency": "EUR"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["id"])')
  while :; do
    STATE=$(api "${BASES[$((NODES - 1))]}/v1/tenants/$TENANT/jobs/$JOB" -H "Authorization: Bearer $KEY")
    case $STATE in *'"state":"done"'*|*'"state":"failed"'*) break ;; esac
    sleep 0.2
  done
  ended=$(date +%s.%N)
  echo "$STATE" | head -c 400; echo
  awk -v a="$started" -v b="$ended" 'BEGIN {printf "rescore: %.1f s\n", b - a}'
  printf 'kith CPU: %s s, PostgreSQL CPU: %s s during the rescore\n' \
    "$(awk -v a="$(servers_cpu)" -v b="$before" 'BEGIN {printf "%.1f", a - b}')" \
    "$(awk -v a="$(pg_cpu)" -v b="$pg_before" 'BEGIN {printf "%.1f", a - b}')"
  echo "memory: $(rss_all)"
  echo "server warnings and errors:"
  sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^[0-9T:.-]*Z //' "$DATA"/serve*.err | grep -v -e 'kith listening' -e '^kith node' \
    | sort | uniq -c | sort -rn | head -10 || true
  stop
done
load
