#!/usr/bin/env python3
"""GET customer latency while a big plugin component installs (issue 14).

Two readers fetch one demo customer in a loop for 5 s, then the component is uploaded with
`?wait=120` (compiled in the background by the limited, low-priority compiler process), and the
readers go on 5 s after it is installed. Prints the install's status and time and the readers'
p50/p99/max before, during and after.

    kith --data-dir /tmp/d serve --demo --listen 127.0.0.1:7611 > out 2> log &
    python3 bench/install_latency.py 127.0.0.1 7611 "$(sed -n 's/^demo tenant key: //p' out)" \\
        "$(sed -n 's/^admin token: //p' out)" path/to/rfm_python.wasm

Standard library only. The Python port of kith.rfm (18.5 MiB) is built by the test suite into
target/debug/build/kith-tests-*/out/languages/rfm_python.wasm when componentize-py is present.
"""

import http.client
import json
import sys
import threading
import time


def main():
    host, port, key, admin, wasm = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]

    def conn():
        return http.client.HTTPConnection(host, port, timeout=180)

    c = conn()
    c.request("GET", "/v1/tenants/demo/customers?limit=1", headers={"Authorization": f"Bearer {key}"})
    customer = json.loads(c.getresponse().read())["items"][0]["id"]
    samples, stop = [], threading.Event()

    def reader():
        c = conn()
        while not stop.is_set():
            t = time.perf_counter()
            c.request("GET", f"/v1/tenants/demo/customers/{customer}",
                      headers={"Authorization": f"Bearer {key}"})
            r = c.getresponse()
            r.read()
            samples.append((t, time.perf_counter() - t))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    time.sleep(5)
    t0 = time.perf_counter()
    c = conn()
    with open(wasm, "rb") as f:
        c.request("POST", "/v1/plugins?wait=120", body=f.read(),
                  headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/wasm"})
    r = c.getresponse()
    body = r.read()
    t1 = time.perf_counter()
    print(f"install: {r.status} in {t1 - t0:.1f} s: {body[:100]!r}")
    time.sleep(5)
    stop.set()
    for t in readers:
        t.join()
    for name, lo, hi in [("before", 0, t0), ("during", t0, t1), ("after", t1, float("inf"))]:
        xs = sorted(d * 1000 for (t, d) in samples if lo <= t < hi)
        if xs:
            print(f"{name}: n={len(xs)} p50={xs[len(xs) // 2]:.2f} ms "
                  f"p99={xs[int(len(xs) * 0.99)]:.2f} ms max={xs[-1]:.2f} ms")


if __name__ == "__main__":
    main()
