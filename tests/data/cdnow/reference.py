#!/usr/bin/env python3
"""Reference figures for Kith's CLV tests on the CDNOW sample, from an independent
implementation: the `lifetimes` package (BetaGeoFitter, GammaGammaFitter).

Run from this directory:

    python3 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes==0.11.3
    /tmp/lt/bin/python reference.py > reference.txt

It writes `reference_customers.csv` (one row per customer of the sample) and
prints the fitted parameters and the aggregate forecast; `tests/tests/suite/retail_pack.rs`
and `plugins/clv` read both and state where they come from.

Preparation, the same as the tests feed Kith:
- all rows of one customer on one day are summed into one purchase occasion;
- calibration: 1997-01-01 .. 1997-09-30 (39 weeks), "now" = 1997-09-30T00:00Z,
  so T = (1997-09-30 - first purchase) in days / 7, as in Fader, Hardie & Lee (2005);
- holdout: 1997-10-01 .. 1998-06-30 (weeks 40-78, 273 days = 39 weeks);
- time in weeks; money in dollars.
"""
import sys

import lifetimes
import numpy as np
import pandas as pd
import scipy
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import calibration_and_holdout_data

CAL_END = pd.Timestamp("1997-09-30")
HOLDOUT_END = pd.Timestamp("1998-06-30")
HORIZON_WEEKS = (HOLDOUT_END - CAL_END).days / 7.0  # 39.0
TOL = 1e-8  # tighter than lifetimes' default 1e-7, so the optimum is pinned well below 1%

rows = pd.read_csv(
    "CDNOW_sample.txt",
    sep=r"\s+",
    header=None,
    names=["customer", "sample_id", "date", "cds", "dollars"],
    dtype={"customer": str, "date": str},
)
rows["date"] = pd.to_datetime(rows["date"], format="%Y%m%d")
occasions = rows.groupby(["customer", "date"], as_index=False)["dollars"].sum()

cal = occasions[occasions["date"] <= CAL_END]
hold = occasions[(occasions["date"] > CAL_END) & (occasions["date"] <= HOLDOUT_END)]
s = cal.groupby("customer").agg(
    first=("date", "min"), last=("date", "max"), count=("date", "size"), total=("dollars", "sum")
)
s["x"] = s["count"] - 1
s["t_x"] = (s["last"] - s["first"]).dt.days / 7.0
s["T"] = (CAL_END - s["first"]).dt.days / 7.0
s["holdout"] = hold.groupby("customer").size().reindex(s.index, fill_value=0)

# Cross-check the hand-made summary against lifetimes' own calibration/holdout split.
lt = calibration_and_holdout_data(
    occasions, "customer", "date", calibration_period_end=CAL_END,
    observation_period_end=HOLDOUT_END, freq="D", monetary_value_col="dollars",
)
assert (lt["frequency_cal"] == s["x"]).all()
assert np.allclose(lt["recency_cal"] / 7.0, s["t_x"]) and np.allclose(lt["T_cal"] / 7.0, s["T"])
assert (lt["frequency_holdout"] == s["holdout"]).all()

bg = BetaGeoFitter().fit(s["x"], s["t_x"], s["T"], tol=TOL)

# Gamma-Gamma as Kith fits it: the host's aggregates give the count and total of
# all purchases, not the first purchase's amount, so spend per purchase is the
# mean of *all* calibration purchases, over every buyer with positive spend.
buyers = s[s["total"] > 0]
gg_all = GammaGammaFitter().fit(buyers["count"], buyers["total"] / buyers["count"], tol=TOL)

# The papers' definition, for comparison only: mean of repeat purchases, repeat buyers.
repeat = lt[lt["frequency_cal"] > 0]
gg_repeat = GammaGammaFitter().fit(repeat["frequency_cal"], repeat["monetary_value_cal"], tol=TOL)

s["p_alive"] = bg.conditional_probability_alive(s["x"], s["t_x"], s["T"])
s["expected_purchases"] = bg.conditional_expected_number_of_purchases_up_to_time(
    HORIZON_WEEKS, s["x"], s["t_x"], s["T"]
)
s["expected_spend"] = gg_all.conditional_expected_average_profit(
    s["count"], (s["total"] / s["count"]).clip(lower=0)
)
s["expected_value"] = s["expected_purchases"] * s["expected_spend"]

out = s.reset_index()[
    ["customer", "count", "total", "x", "t_x", "T", "holdout",
     "p_alive", "expected_purchases", "expected_spend", "expected_value"]
]
out.to_csv("reference_customers.csv", index=False, float_format="%.12g")

print(f"python {sys.version.split()[0]}, lifetimes {lifetimes.__version__}, "
      f"pandas {pd.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, tol {TOL}")
print(f"customers {len(s)}, repeat buyers {(s['x'] > 0).sum()}, buyers with positive spend {len(buyers)}")
print("bgnbd r={r:.10g} alpha={alpha:.10g} a={a:.10g} b={b:.10g}".format(**bg.params_))
print("gamma_gamma_all_purchases p={p:.10g} q={q:.10g} v={v:.10g}".format(**gg_all.params_))
print("gamma_gamma_repeat_purchases p={p:.10g} q={q:.10g} v={v:.10g}".format(**gg_repeat.params_))
print(f"forecast_weeks_40_78 {s['expected_purchases'].sum():.10g}")
print(f"actual_weeks_40_78 {int(s['holdout'].sum())}")
print(f"expected_value_weeks_40_78 {s['expected_value'].sum():.10g}")
