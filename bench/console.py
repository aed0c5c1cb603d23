#!/usr/bin/env python3
"""How fast the console's first page appears in a cold browser, against `kith serve --demo`.

Each run opens a new headless Chromium session (a fresh profile: nothing cached), loads
/console, and reads the page's own timings: response end, first contentful paint, DOM content
loaded, and when the console drew its first page (the sign-in form; the console marks each page it
draws). It then signs in with the demo tenant key and reads how long the customers page took (the
`whoami` call, the first page of customers from the API, drawing the table). The median and the
slowest of RUNS runs are printed. The goal (issue 15): the first page under 200 ms.

Needs: a built `kith` (KITH, default target/release/kith), the demo's plugin components
(PLUGINS, default target/plugin-artifacts/wasm32-unknown-unknown/release, which `cargo test` builds),
chromium and chromedriver (Debian: apt-get install chromium chromium-driver), python3.

    cargo build --release -p kith
    python3 bench/console.py            # RUNS=10 by default
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KITH = os.environ.get("KITH", os.path.join(ROOT, "target/release/kith"))
PLUGINS = os.environ.get(
    "PLUGINS", os.path.join(ROOT, "target/plugin-artifacts/wasm32-unknown-unknown/release")
)
RUNS = int(os.environ.get("RUNS", "10"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wd(base, method, path, body=None):
    """One WebDriver command; its value."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["value"]


WAIT_FOR_PAGES = """
const [n, done] = arguments;
const count = () => performance.getEntriesByName('kith:page').length;
if (count() >= n) return done(true);
const seen = new PerformanceObserver(() => { if (count() >= n) { seen.disconnect(); done(true); } });
seen.observe({ entryTypes: ['measure'] });
"""

READ = """
const n = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const drawn = performance.getEntriesByName('kith:rendered');
const pages = performance.getEntriesByName('kith:page');
return { response_end: n.responseEnd, first_contentful_paint: fcp ? fcp.startTime : null,
  dom_content_loaded: n.domContentLoadedEventEnd, first_page_drawn: drawn[0].startTime,
  customers_page_after_sign_in: pages.length > 1 ? pages[pages.length - 1].duration : null };
"""

SIGN_IN = """
document.getElementById('token').value = arguments[0];
document.querySelector('form.signin').requestSubmit();
"""


def main():
    if not os.path.exists(KITH):
        sys.exit(f"no {KITH}: cargo build --release -p kith (or set KITH)")
    data = tempfile.mkdtemp(prefix="kith-console-bench.")
    port = free_port()
    server = subprocess.Popen(
        [KITH, "--data-dir", data, "serve", "--demo", "--listen", f"127.0.0.1:{port}",
         "--plugins", PLUGINS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    driver = None
    try:
        key = None
        for line in server.stdout:
            if line.startswith("demo tenant key: "):
                key = line.split(": ", 1)[1].strip()
                break
        if not key:
            sys.exit("kith serve --demo printed no tenant key")
        for line in server.stderr:
            if line.startswith("kith listening on "):
                break
        # Its request log, read so that a full pipe never stalls the server.
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        dport = free_port()
        driver = subprocess.Popen(["chromedriver", f"--port={dport}"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        for line in driver.stdout:
            if "started successfully" in line:
                break
        base = f"http://127.0.0.1:{dport}"
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run"]}}}}
        results = []
        for _ in range(RUNS):
            session = wd(base, "POST", "/session", caps)["sessionId"]
            s = f"/session/{session}"
            wd(base, "POST", s + "/timeouts", {"script": 60000})
            wd(base, "POST", s + "/url", {"url": f"http://127.0.0.1:{port}/console"})
            wd(base, "POST", s + "/execute/async", {"script": WAIT_FOR_PAGES, "args": [1]})
            wd(base, "POST", s + "/execute/sync", {"script": SIGN_IN, "args": [key]})
            wd(base, "POST", s + "/execute/async", {"script": WAIT_FOR_PAGES, "args": [2]})
            results.append(wd(base, "POST", s + "/execute/sync", {"script": READ, "args": []}))
            wd(base, "DELETE", s)
        print(f"console, cold browser, {RUNS} runs ({KITH}); milliseconds, median / slowest")
        for k in results[0]:
            vals = [r[k] for r in results if r[k] is not None]
            print(f"  {k:30} {statistics.median(vals):7.1f} / {max(vals):7.1f}")
    finally:
        for p in (driver, server):
            if p:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
