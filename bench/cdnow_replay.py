#!/usr/bin/env python3
"""Replay the CDNOW master file through kith.generic-orders over HTTP, then run the retail pack.

Starts `kith serve` on a fresh data directory, creates a tenant and a tenant key, installs the
plugins and enables kith.generic-orders, then times each step:

  1. build: one signed order.created document per row of tests/data/cdnow/CDNOW_master.txt
     (69,659 purchases of 23,570 customers), in date order, as a shop would have sent them;
  2. replay: POST each to /v1/tenants/cdnow/hooks/kith.generic-orders over --connections
     keep-alive connections (one thread each); every answer must be 200 (accepted);
  3. the retail pack, one plugin at a time: enable it, which starts a rescore of every customer
     (population step first), and poll the job until it is done;
  4. check: customers and purchases in the store (`kith export` after a graceful stop) against
     the file, and the segments' member counts.

Python 3 standard library only. Run from anywhere after
  cargo build --release -p kith
  cargo build --release --target wasm32-unknown-unknown -p kith-plugin-generic-orders \\
    -p kith-plugin-rfm-scorer -p kith-plugin-clv -p kith-plugin-value-tiers \\
    -p kith-plugin-churn-risk -p kith-plugin-rfm-segments
with `python3 bench/cdnow_replay.py [--connections 24] [--keep]`.
"""

import argparse
import base64
import collections
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MASTER = os.path.join(ROOT, "tests", "data", "cdnow", "CDNOW_master.txt")
WASM_DIR = os.path.join(ROOT, "target", "wasm32-unknown-unknown", "release")
TENANT = "cdnow"
SECRET = "cdnow-bench-secret"

# The retail pack, in the order it is enabled, with a valid configuration for CDNOW (dollars,
# time in weeks as in the papers, a one-year CLV horizon; value tiers as a value pyramid).
RETAIL_PACK = [
    ("kith_plugin_rfm_scorer", {"currency": "USD"}),
    ("kith_plugin_clv", {"currency": "USD", "time_unit": "weeks", "horizon_days": 365,
                         "annual_discount_rate": 0}),
    ("kith_plugin_value_tiers", {"currency": "USD", "mode": "percentiles",
                                 "percentiles": {"vip": 1, "gold": 4, "silver": 15}}),
    ("kith_plugin_churn_risk", {"time_unit": "weeks", "high_risk_below": 0.3,
                                "medium_risk_below": 0.7}),
    ("kith_plugin_rfm_segments", {}),
]


def log(*args):
    print(*args, flush=True)


class Server:
    """`kith serve` on a free port of a temporary data directory."""

    def __init__(self, kith, data_dir, admin):
        self.kith, self.data_dir, self.admin = kith, data_dir, admin
        env = dict(os.environ, KITH_ADMIN_TOKEN=admin)
        self.err_path = os.path.join(os.path.dirname(data_dir), "serve.err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [kith, "--data-dir", data_dir, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.err_path) as f:
                m = re.search(r"kith listening on http://(\S+)", f.read())
            if m:
                host, port = m.group(1).rsplit(":", 1)
                self.host, self.port = host, int(port)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        sys.exit("server did not start:\n" + open(self.err_path).read())

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return " ".join(" ".join(l.split()) for l in f if l.startswith(("VmRSS", "VmHWM")))

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.err.close()

    def errors(self):
        with open(self.err_path) as f:
            return [l.rstrip() for l in f if "kith listening" not in l]


class Api:
    def __init__(self, server, token):
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        self.token = token

    def call(self, method, path, body=None, content_type="application/json", expect=(200, 201, 202)):
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = content_type
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status not in expect:
            sys.exit(f"{method} {path}: HTTP {r.status}: {data[:2000].decode(errors='replace')}")
        return json.loads(data) if data else None


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def build_deliveries():
    """One signed order.created delivery per row, in date order (stable: file order within a day)."""
    rows = []
    with open(MASTER) as f:
        next(f)
        for n, line in enumerate(f, start=1):
            cust, date, cds, dollars = line.split()
            rows.append((date, n, cust, int(cds), dollars))
    rows.sort(key=lambda r: (r[0], r[1]))
    key = SECRET.encode()
    out = []
    for date, n, cust, cds, dollars in rows:
        doc = {
            "id": n,
            "occurred_at": f"{date[:4]}-{date[4:6]}-{date[6:]}T00:00:00Z",
            "customer": {"external_id": str(int(cust))},
            "currency": "USD",
            "total": dollars,  # the file's dollars always have two decimals
        }
        if cds > 0:
            doc["items"] = [{"name": "CD", "quantity": cds}]
        body = json.dumps(doc, separators=(",", ":")).encode()
        sig = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        out.append((f"cdnow-{n}", sig, body))
    return out


def replay(server, deliveries, connections):
    """Posts every delivery; returns (answers by status, a few non-200 bodies, latencies in s)."""
    path = f"/v1/tenants/{TENANT}/hooks/kith.generic-orders"
    statuses = collections.Counter()
    samples = []
    latencies = []
    lock = threading.Lock()
    next_index = iter(range(len(deliveries)))
    take = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        mine = collections.Counter()
        lat = []
        bad = []
        while True:
            with take:
                i = next(next_index, None)
            if i is None:
                break
            delivery_id, sig, body = deliveries[i]
            headers = {"Content-Type": "application/json", "X-Kith-Topic": "order.created",
                       "X-Kith-Signature": sig, "X-Kith-Delivery-Id": delivery_id}
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status, data = f"error {type(e).__name__}", str(e).encode()
                conn.close()
                conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
            lat.append(time.perf_counter() - t0)
            mine[status] += 1
            if status != 200 and len(bad) < 5:
                bad.append((delivery_id, status, data[:500].decode(errors="replace")))
        conn.close()
        with lock:
            statuses.update(mine)
            latencies.extend(lat)
            samples.extend(bad)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, samples, latencies


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def check_export(kith, data_dir, tmp):
    """Customers and purchases in the store, from `kith export`, against the file."""
    out = os.path.join(tmp, "export.jsonl")
    subprocess.run([kith, "--data-dir", data_dir, "export", "--tenant", TENANT, "--output", out],
                   check=True)
    expected = collections.Counter()
    expected_cents = collections.Counter()
    with open(MASTER) as f:
        next(f)
        for line in f:
            cust, _, _, dollars = line.split()
            expected[str(int(cust))] += 1
            expected_cents[str(int(cust))] += round(float(dollars) * 100)
    ext_of = {}
    purchases = collections.Counter()
    cents = collections.Counter()
    kinds = collections.Counter()
    customers = 0
    with open(out) as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] == "customer":
                customers += 1
                ids = [e["id"] for e in rec.get("external_ids", []) if e.get("source") == "cdnow"]
                ext_of[rec["id"]] = ids[0] if ids else None
            elif rec["type"] == "interaction":
                kinds[rec.get("kind")] += 1
                if rec.get("kind") == "purchase":
                    ext = ext_of.get(rec.get("customer"))
                    purchases[ext] += 1
                    amount = rec.get("amount") or {}
                    cents[ext] += int(amount.get("minor", 0))
    wrong_count = sum(1 for c in expected if purchases.get(c, 0) != expected[c])
    wrong_money = sum(1 for c in expected if cents.get(c, 0) != expected_cents[c])
    log(f"customers in the store: {customers} (file: {len(expected)}); "
        f"customers with a cdnow external id: {sum(1 for v in ext_of.values() if v)}")
    log(f"interactions by kind: {dict(kinds)}")
    log(f"purchases: {sum(purchases.values())} (file: {sum(expected.values())}); customers whose "
        f"purchase count differs from the file: {wrong_count}; whose dollar total differs: {wrong_money}")
    log(f"purchase total: {sum(cents.values()) / 100:.2f} USD "
        f"(file: {sum(expected_cents.values()) / 100:.2f} USD)")
    return customers == len(expected) and wrong_count == 0 and wrong_money == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kith", default=os.path.join(ROOT, "target", "release", "kith"))
    ap.add_argument("--connections", type=int, default=24)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kith-cdnow.")
    data_dir = os.path.join(tmp, "data")
    admin = "kith_bench_admin_" + secrets.token_hex(16)
    log(f"kith {args.kith}, {os.cpu_count()} cores, load {load_avg()}, "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    server = Server(args.kith, data_dir, admin)
    ok = True
    try:
        adm = Api(server, admin)
        adm.call("POST", "/v1/tenants", {"slug": TENANT, "name": "CDNOW", "industry": "retail"})
        key = adm.call("POST", "/v1/tokens", {"kind": "tenant", "tenant": TENANT})["token"]
        api = Api(server, key)
        ids = {}
        for name in ["kith_plugin_generic_orders"] + [n for n, _ in RETAIL_PACK]:
            with open(os.path.join(WASM_DIR, name + ".wasm"), "rb") as f:
                p = adm.call("POST", "/v1/plugins?wait=60", f.read(), content_type="application/wasm")
            ids[name] = p["id"]
        api.call("POST", f"/v1/tenants/{TENANT}/plugins",
                 {"plugin": ids["kith_plugin_generic_orders"],
                  "config": {"secret": SECRET, "source": "cdnow"}})

        t0 = time.perf_counter()
        deliveries = build_deliveries()
        log(f"\n[build] {len(deliveries)} signed deliveries in {time.perf_counter() - t0:.2f} s")

        log(f"\n[replay] {args.connections} connections, load before {load_avg()}")
        cpu0 = server.cpu_seconds()
        client0 = sum(os.times()[:2])
        t0 = time.perf_counter()
        statuses, samples, lat = replay(server, deliveries, args.connections)
        secs = time.perf_counter() - t0
        client_cpu = sum(os.times()[:2]) - client0
        lat.sort()
        log(f"[replay] {len(deliveries)} deliveries in {secs:.2f} s = {len(deliveries) / secs:.0f}/s; "
            f"latency p50 {percentile(lat, 50) * 1e3:.1f} ms, p99 {percentile(lat, 99) * 1e3:.1f} ms, "
            f"max {lat[-1] * 1e3:.1f} ms; server CPU {server.cpu_seconds() - cpu0:.1f} s, "
            f"client CPU {client_cpu:.1f} s; load after {load_avg()}")
        log(f"[replay] answers: {dict(statuses)}")
        for s in samples:
            log(f"[replay] non-200: {s}")
        ok &= statuses.get(200, 0) == len(deliveries)
        log(f"[replay] server {server.rss()}")

        for name, config in RETAIL_PACK:
            plugin = ids[name]
            cpu0 = server.cpu_seconds()
            t0 = time.perf_counter()
            r = api.call("POST", f"/v1/tenants/{TENANT}/plugins", {"plugin": plugin, "config": config})
            job = r.get("job")
            if job is None:
                log(f"[{plugin}] enabled, but no rescore job in the answer: {json.dumps(r)[:500]}")
                ok = False
                continue
            while job["state"] not in ("done", "failed"):
                time.sleep(0.05)
                job = api.call("GET", f"/v1/tenants/{TENANT}/jobs/{job['id']}")
            secs = time.perf_counter() - t0
            log(f"\n[{plugin}] enable + rescore of {job['total']} customers: {secs:.2f} s, "
                f"state {job['state']}, done {job['done']}, failed {job['failed']}, "
                f"error {job.get('error')}; server CPU {server.cpu_seconds() - cpu0:.1f} s; "
                f"load {load_avg()}")
            ok &= job["state"] == "done" and job["failed"] == 0
            status = api.call("GET", f"/v1/tenants/{TENANT}/plugins/{plugin}")
            log(f"[{plugin}] status: {json.dumps(status)[:1200]}")

        log("\n[check] segments:")
        page = api.call("GET", f"/v1/tenants/{TENANT}/segments?limit=1000")
        for s in page["items"]:
            log(f"  {s.get('plugin')}/{s.get('segment')}: {s.get('members')}")
        for name in ("kith_plugin_rfm_scorer", "kith_plugin_clv"):
            top = api.call("GET", f"/v1/tenants/{TENANT}/scores/{ids[name]}?limit=3")
            log(f"[check] top {ids[name]} scores: {json.dumps(top['items'])[:1500]}")
        log(f"[check] server {server.rss()}, CPU {server.cpu_seconds():.1f} s in all")
    finally:
        server.stop()
        errors = server.errors()
        log(f"[check] server stderr: {len(errors)} lines" + ("; first ones:" if errors else ""))
        for e in errors[:15]:
            log("  " + e[:400])

    ok &= check_export(args.kith, data_dir, tmp)
    if args.keep:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp)
    log("\nOK" if ok else "\nSOMETHING WAS WRONG (see above)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
