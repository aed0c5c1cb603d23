#!/usr/bin/env python3
"""The other side of `cargo bench -p kith-tests --bench retail`'s CLV fit: how long the
`lifetimes` package takes to fit the same CDNOW master-file summary.

    python3 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes
    /tmp/lt/bin/python tests/benches/cdnow_lifetimes.py [REPEATS]

The summary is prepared as the Rust benchmark prepares it (and as
tests/data/cdnow/reference.py does for the sample): one purchase occasion per customer per
day, calibration 1997-01-01 .. 1997-09-30, "now" = 1997-09-30, time in weeks, spend the mean
of all calibration purchases. Reading and summarising the file is not timed; each fit is.
`BetaGeoFitter().fit` is what the brief compares; Gamma-Gamma is timed too, because Kith's
population step fits both (and forecasts every buyer to cut the value bands).
"""
import pathlib
import statistics
import sys
import time

import lifetimes
import numpy as np
import pandas as pd
import scipy
from lifetimes import BetaGeoFitter, GammaGammaFitter

MASTER = pathlib.Path(__file__).resolve().parent.parent / "data" / "cdnow" / "CDNOW_master.txt"
CAL_END = pd.Timestamp("1997-09-30")
REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 10

rows = pd.read_csv(
    MASTER, sep=r"\s+", header=0, names=["customer", "date", "cds", "dollars"],
    dtype={"customer": str, "date": str},
)
rows["date"] = pd.to_datetime(rows["date"], format="%Y%m%d")
cal = rows[rows["date"] <= CAL_END].groupby(["customer", "date"], as_index=False)["dollars"].sum()
s = cal.groupby("customer").agg(
    first=("date", "min"), last=("date", "max"), count=("date", "size"), total=("dollars", "sum")
)
x = s["count"] - 1
t_x = (s["last"] - s["first"]).dt.days / 7.0
T = (CAL_END - s["first"]).dt.days / 7.0
buyers = s[s["total"] > 0]
assert len(s) == 23_570, len(s)


def timed(fit):
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        model = fit()
        seconds.append(time.perf_counter() - start)
    return model, seconds


def report(name, model, seconds):
    params = " ".join(f"{k}={v:.6g}" for k, v in model.params_.items())
    print(f"{name}: median {statistics.median(seconds) * 1e3:.1f} ms, "
          f"min {min(seconds) * 1e3:.1f} ms over {len(seconds)} fits; {params}")


print(f"python {sys.version.split()[0]}, lifetimes {lifetimes.__version__}, pandas {pd.__version__}, "
      f"numpy {np.__version__}, scipy {scipy.__version__}; {len(s)} customers, "
      f"{(x > 0).sum()} repeat buyers")
bg, bg_s = timed(lambda: BetaGeoFitter().fit(x, t_x, T))
report("BetaGeoFitter().fit", bg, bg_s)
gg, gg_s = timed(lambda: GammaGammaFitter().fit(buyers["count"], buyers["total"] / buyers["count"]))
report("GammaGammaFitter().fit", gg, gg_s)
both = [a + b for a, b in zip(bg_s, gg_s)]
print(f"both fits: median {statistics.median(both) * 1e3:.1f} ms, min {min(both) * 1e3:.1f} ms")
