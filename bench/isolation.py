#!/usr/bin/env python3
"""Replays issue 10's findings against a `kith serve` binary and prints what each one does.

Every scenario starts a fresh server on a fresh data directory, plays the attack over plain HTTP
and measures what the attacker made the server do (status codes, lag, resident memory, CPU,
time to stop). Run it against two builds to get figures before and after a change:

    cargo build --release -p kith          # the server
    cargo test -p kith-tests --no-run           # the reference and hostile plugin components
    cargo build -p kith-tests --bin craft       # the compile-bomb generator
    python3 bench/isolation.py --kith target/release/kith

Options: --kith BINARY, --plugins DIR (components; default target/plugin-artifacts/...),
--craft BINARY, --only NAME[,NAME] (scenarios: hook, fairness, slots, schema, compile, chain,
impostor, output, connections, flood). Needs only Python 3's standard library.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = "kith_isolation_bench_admin_token_0123456789abcdef"
SECRET = "bench-shopify-secret"


def component(plugins, name):
    return os.path.join(plugins, "kith_plugin_%s.wasm" % name.replace("-", "_"))


class Server:
    """A `kith serve` on a fresh data directory."""

    def __init__(self, kith, extra_env=None):
        self.dir = tempfile.mkdtemp(prefix="kith-isolation.")
        env = dict(os.environ, KITH_ADMIN_TOKEN=ADMIN, KITH_LOG="warn")
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [kith, "--data-dir", self.dir, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        for line in self.proc.stderr:
            if line.startswith("kith listening on http://"):
                self.addr = line.strip().split("http://", 1)[1]
                break
        else:
            raise RuntimeError("kith serve did not start")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        self.host, port = self.addr.rsplit(":", 1)
        self.port = int(port)
        self.keys = {}

    def request(self, method, path, body=None, token=ADMIN, headers=None, timeout=120, raw=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            text = r.read().decode(errors="replace")
            return r.status, (json.loads(text) if text.startswith(("{", "[")) else text)
        except (socket.timeout, TimeoutError):
            return None, "timed out"
        finally:
            conn.close()

    def tenant(self, slug):
        self.request("POST", "/v1/tenants", {"slug": slug})
        _, key = self.request("POST", "/v1/tokens", {"kind": "tenant", "tenant": slug})
        self.keys[slug] = key["token"]
        return key["token"]

    def install(self, path):
        with open(path, "rb") as f:
            return self.request("POST", "/v1/plugins?wait=60", raw=f.read(),
                                headers={"Content-Type": "application/wasm"})

    def enable(self, tenant, body):
        return self.request("POST", "/v1/tenants/%s/plugins" % tenant, body, token=self.keys[tenant])

    def customer(self, tenant, email):
        s, c = self.request("POST", "/v1/tenants/%s/customers" % tenant,
                            {"email": email, "name": email}, token=self.keys[tenant])
        return c["id"] if s == 201 else None

    def purchase(self, tenant, customer, minor):
        return self.request("POST", "/v1/tenants/%s/interactions" % tenant,
                            {"customer": customer, "channel": "e-commerce", "kind": "purchase",
                             "amount": {"minor": minor, "currency": "USD"}},
                            token=self.keys[tenant])

    def status(self, tenant, plugin):
        return self.request("GET", "/v1/tenants/%s/plugins/%s" % (tenant, plugin),
                            token=self.keys[tenant])[1]

    def rss_mib(self, field="VmRSS"):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_secs(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=120):
        """SIGTERM; returns seconds until it exited (or None if it had to be killed)."""
        start = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                shutil.rmtree(self.dir, ignore_errors=True)
                return None
        shutil.rmtree(self.dir, ignore_errors=True)
        return time.monotonic() - start


def sign(body):
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def order(i):
    return json.dumps({
        "id": 9000 + i, "email": "shopper%d@example.com" % i, "currency": "USD",
        "total_price": "10.00", "created_at": "2026-11-20T10:00:00Z",
        "customer": {"id": 100 + i, "email": "shopper%d@example.com" % i},
        "line_items": [{"title": "Thing", "quantity": 1, "price": "10.00"}]}).encode()


def hook(srv, tenant, body, signature, delivery):
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Webhook-Id": delivery}
    if signature:
        headers["X-Shopify-Hmac-Sha256"] = signature
    return srv.request("POST", "/v1/tenants/%s/hooks/kith.shopify-orders" % tenant,
                       raw=body, token=None, headers=headers)[0]


def report(name, **figures):
    print("%-12s %s" % (name, ", ".join("%s=%s" % kv for kv in figures.items())), flush=True)


def scenario_hook(a):
    """1. Unsigned 200 KB bodies to a tenant's Shopify hook, then a genuine signed order."""
    srv = Server(a.kith)
    srv.tenant("shop")
    srv.install(component(a.plugins, "shopify-orders"))
    srv.enable("shop", {"plugin": "kith.shopify-orders", "config": {"secret": SECRET}})
    junk = b"x" * (200 * 1024)
    codes = [hook(srv, "shop", junk, None, "junk-%d" % i) for i in range(5)]
    forged = [hook(srv, "shop", junk, sign(b"other"), "forged-%d" % i) for i in range(5)]
    st = srv.status("shop", "kith.shopify-orders")
    genuine = hook(srv, "shop", order(1), sign(order(1)), "genuine-1")
    report("hook", unsigned=sorted(set(codes)), forged=sorted(set(forged)),
           suspended=st.get("suspended"), failures=st["health"]["consecutive_failures"],
           guest_calls=st["calls"]["calls"], genuine_order=genuine)
    srv.stop()


def scenario_fairness(a):
    """2. Tenant A: endless population step at a 30 s deadline; tenant B's scoring lag."""
    srv = Server(a.kith)
    srv.tenant("a")
    srv.tenant("b")
    for p in ("hostile-slow-population", "rfm-scorer"):
        srv.install(component(a.plugins, p))
    for i in range(3):
        srv.customer("a", "a%d@a.test" % i)
    s, _ = srv.enable("a", {"plugin": "kith.test.slow-population",
                            "limits": {"deadline_ms": 30000, "fuel": 10**13}})
    if s != 201:
        # Refused above the ceiling: ask for the most the host allows for the population step.
        s, _ = srv.enable("a", {"plugin": "kith.test.slow-population",
                                "population_limits": {"deadline_ms": 30000,
                                                      "fuel": 50_000_000_000}})
    srv.enable("b", {"plugin": "kith.rfm"})
    srv.customer("a", "poke@a.test")  # A's dispatch now runs its population step
    lags = []
    for i in range(5):
        c = srv.customer("b", "b%d@b.test" % i)
        srv.purchase("b", c, 1000)
        start = time.monotonic()
        while time.monotonic() - start < 60:
            st = srv.status("b", "kith.rfm")
            if st["cursor"] >= st["head"]:
                break
            time.sleep(0.01)
        lags.append(round(time.monotonic() - start, 3))
    stop = srv.stop(timeout=90)
    report("fairness", b_lag_s=lags, max_b_lag_s=max(lags),
           sigterm_exit_s=(round(stop, 2) if stop is not None else "killed after 90 s"))


def scenario_slots(a):
    """3. 32 concurrent slow dry runs of tenant A; tenant B's signed webhooks meanwhile."""
    srv = Server(a.kith)
    srv.tenant("a")
    srv.tenant("b")
    for p in ("hostile-infinite-loop", "shopify-orders"):
        srv.install(component(a.plugins, p))
    for i in range(3):
        srv.customer("a", "a%d@a.test" % i)
    s, _ = srv.enable("a", {"plugin": "kith.test.infinite-loop",
                            "limits": {"deadline_ms": 5000, "fuel": 10**13}})
    if s != 201:
        srv.enable("a", {"plugin": "kith.test.infinite-loop",
                         "limits": {"deadline_ms": 1000, "fuel": 100_000_000}})
    srv.enable("b", {"plugin": "kith.shopify-orders", "config": {"secret": SECRET}})
    stop = threading.Event()

    def dry_runs():
        while not stop.is_set():
            srv.request("POST", "/v1/tenants/a/plugins/kith.test.infinite-loop/dry-run",
                        {"sample": 1}, token=srv.keys["a"])

    threads = [threading.Thread(target=dry_runs) for _ in range(32)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let the dry runs take their slots
    codes = []
    for i in range(20):
        codes.append(hook(srv, "b", order(i), sign(order(i)), "b-%d" % i))
    stop.set()
    for t in threads:
        t.join()
    report("slots", b_webhooks={c: codes.count(c) for c in sorted(set(codes), key=str)})
    srv.stop()


def scenario_schema(a):
    """4. A plugin whose configuration schema has 40 levels of anyOf over $ref."""
    srv = Server(a.kith)
    srv.tenant("a")
    t0 = time.monotonic()
    s, body = srv.install(component(a.plugins, "hostile-schema-bomb"))
    install_s = round(time.monotonic() - t0, 3)
    figures = {"install": s, "install_s": install_s}
    if s in (200, 201):
        cpu0 = srv.cpu_secs()
        t0 = time.monotonic()
        # A configuration that is not an object fails every branch: 2^40 subschemas to try.
        es, _ = srv.request("POST", "/v1/tenants/a/plugins",
                            {"plugin": "kith.test.schema-bomb", "config": []},
                            token=srv.keys["a"], timeout=40)
        figures["enable"] = es
        figures["enable_s"] = round(time.monotonic() - t0, 1)
        time.sleep(5)
        cpu1 = srv.cpu_secs()
        time.sleep(5)
        figures["cpu_cores_busy_after"] = round((srv.cpu_secs() - cpu1) / 5, 2)
        figures["cpu_s_during"] = round(cpu1 - cpu0, 1)
    else:
        figures["code"] = body.get("code") if isinstance(body, dict) else body
    report("schema", **figures)
    srv.stop(timeout=30)


def scenario_compile(a):
    """5. A crafted component built to defeat register allocation."""
    for locals_, targets in ((1000, 1000), (2000, 2000)):
        path = os.path.join(tempfile.gettempdir(), "bomb-%d.wasm" % locals_)
        subprocess.run([a.craft, "compile-bomb", str(locals_), str(targets), path],
                       check=True, stdout=subprocess.DEVNULL)
        srv = Server(a.kith)
        before = srv.rss_mib()
        t0 = time.monotonic()
        peak = [before]
        done = threading.Event()

        def watch():
            while not done.is_set() and srv.alive():
                try:
                    peak[0] = max(peak[0], srv.rss_mib())
                except OSError:
                    break
                time.sleep(0.05)

        w = threading.Thread(target=watch)
        w.start()
        s, body = srv.install(path)
        done.set()
        w.join()
        report("compile", component_kb=os.path.getsize(path) // 1024, upload=s,
               code=(body.get("code") if isinstance(body, dict) else None),
               seconds=round(time.monotonic() - t0, 1), server_rss_before_mib=round(before),
               server_rss_peak_mib=round(peak[0]), server_alive=srv.alive())
        srv.stop(timeout=30)


def scenario_chain(a):
    """6. Two scorers creating customers in reaction to each other, one customer written."""
    srv = Server(a.kith)
    srv.tenant("a")
    for p in ("hostile-spawner-a", "hostile-spawner-b"):
        srv.install(component(a.plugins, p))
        srv.enable("a", {"plugin": "kith.test." + p.split("hostile-", 1)[1]})
    srv.customer("a", "zero@a.test")
    counts = []
    for _ in range(10):
        time.sleep(1)
        s, page = srv.request("GET", "/v1/tenants/a/customers?limit=1000", token=srv.keys["a"])
        n = len(page["items"]) if isinstance(page, dict) else None
        counts.append(n if n is not None and not page.get("next_cursor") else ">=%s" % n)
    st = srv.status("a", "kith.test.spawner-a")
    report("chain", customers_each_second=counts,
           refused=st.get("refused_actions", "n/a"))
    srv.stop(timeout=30)


def scenario_impostor(a):
    """7. Another component declaring kith.rfm 0.1.0."""
    srv = Server(a.kith)
    srv.tenant("a")
    s1, genuine = srv.install(component(a.plugins, "rfm-scorer"))
    with open(component(a.plugins, "rfm-scorer"), "rb") as f:
        impostor = f.read() + bytes([0, 10, 8]) + b"impostor" + b"x"
    s2, _ = srv.request("POST", "/v1/plugins?wait=60", raw=impostor,
                        headers={"Content-Type": "application/wasm"})
    _, enabled = srv.enable("a", {"plugin": "kith.rfm"})
    picked = enabled["status"]["enablement"]["hash"]
    report("impostor", genuine=s1, impostor=s2,
           enabled_is_genuine=(picked == genuine["hash"]))
    srv.stop()


def scenario_output(a):
    """8. 16 concurrent dry runs of a scorer whose 64 reasons share one 4 MiB buffer."""
    srv = Server(a.kith)
    srv.tenant("a")
    srv.install(component(a.plugins, "hostile-aliased-output"))
    srv.customer("a", "c@a.test")
    srv.enable("a", {"plugin": "kith.test.aliased-output"})
    before = srv.rss_mib()
    codes = []

    def dry():
        s, body = srv.request("POST", "/v1/tenants/a/plugins/kith.test.aliased-output/dry-run",
                              {"sample": 1}, token=srv.keys["a"])
        err = body["outcomes"][0].get("error") if isinstance(body, dict) and body.get("outcomes") else None
        codes.append(err["code"] if err else s)

    threads = [threading.Thread(target=dry) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report("output", outcomes={c: codes.count(c) for c in set(map(str, codes))},
           rss_before_mib=round(before), peak_mib=round(srv.rss_mib("VmHWM")),
           rss_after_mib=round(srv.rss_mib()))
    srv.stop()


def scenario_connections(a):
    """9. 2,000 idle connections; 10 s later; then SIGTERM with a half-sent request."""
    srv = Server(a.kith)
    before = srv.rss_mib()
    socks = []
    for _ in range(2000):
        s = socket.create_connection((srv.host, srv.port))
        socks.append(s)
    time.sleep(2)
    held = srv.rss_mib()
    time.sleep(11)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
        s.close()
    half = socket.create_connection((srv.host, srv.port))
    half.sendall(("POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"slug\":"
                  % ADMIN).encode())
    time.sleep(0.5)
    stop = srv.stop(timeout=90)
    report("connections", rss_before_mib=round(before), rss_with_2000_idle_mib=round(held),
           idle_closed_after_13s=closed,
           sigterm_with_half_sent_request_s=(round(stop, 2) if stop is not None
                                             else "killed after 90 s"))


def scenario_flood(a):
    """10. 600 connections of tenant A each asking for a dry run of a looping scorer; tenant B
    reads a customer and posts signed webhooks meanwhile."""
    srv = Server(a.kith)
    srv.tenant("a")
    srv.tenant("b")
    for p in ("hostile-infinite-loop", "shopify-orders"):
        srv.install(component(a.plugins, p))
    srv.customer("a", "a0@a.test")
    srv.enable("a", {"plugin": "kith.test.infinite-loop",
                     "limits": {"deadline_ms": 1000, "fuel": 100_000_000}})
    srv.enable("b", {"plugin": "kith.shopify-orders", "config": {"secret": SECRET}})
    bob = srv.customer("b", "bob@b.test")
    stop = threading.Event()
    a_codes = []

    def dry_runs():
        while not stop.is_set():
            s, _ = srv.request("POST", "/v1/tenants/a/plugins/kith.test.infinite-loop/dry-run",
                               {"sample": 1}, token=srv.keys["a"], timeout=60)
            a_codes.append(s)

    # More connections than tokio's 512 blocking threads, fewer than the server's 1,024.
    threads = [threading.Thread(target=dry_runs) for _ in range(600)]
    for t in threads:
        t.start()
    time.sleep(3.0)  # let the flood arrive
    reads, hooks, codes = [], [], []
    for i in range(10):
        t0 = time.monotonic()
        s, _ = srv.request("GET", "/v1/tenants/b/customers/%s" % bob, token=srv.keys["b"], timeout=60)
        reads.append(time.monotonic() - t0)
        codes.append(s)
        t0 = time.monotonic()
        codes.append(hook(srv, "b", order(i), sign(order(i)), "b-%d" % i))
        hooks.append(time.monotonic() - t0)
    threads_during = len(os.listdir("/proc/%d/task" % srv.proc.pid))
    rss = srv.rss_mib()
    stop.set()
    for t in threads:
        t.join()
    report("flood", b_codes={c: codes.count(c) for c in sorted(set(codes), key=str)},
           b_read_max_ms=round(max(reads) * 1000, 1), b_hook_max_ms=round(max(hooks) * 1000, 1),
           server_threads=threads_during, rss_mib=round(rss),
           a_codes={c: a_codes.count(c) for c in sorted(set(a_codes), key=str)})
    srv.stop()


SCENARIOS = {
    "hook": scenario_hook, "fairness": scenario_fairness, "slots": scenario_slots,
    "schema": scenario_schema, "compile": scenario_compile, "chain": scenario_chain,
    "impostor": scenario_impostor, "output": scenario_output,
    "connections": scenario_connections, "flood": scenario_flood,
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kith", default=os.path.join(ROOT, "target/release/kith"))
    p.add_argument("--plugins",
                   default=os.path.join(ROOT, "target/plugin-artifacts/wasm32-unknown-unknown/release"))
    p.add_argument("--craft", default=os.path.join(ROOT, "target/debug/craft"))
    p.add_argument("--only", default=",".join(SCENARIOS))
    a = p.parse_args()
    print("# %s, load %s" % (a.kith, open("/proc/loadavg").read().split()[0]), flush=True)
    for name in a.only.split(","):
        SCENARIOS[name](a)


if __name__ == "__main__":
    sys.exit(main())
