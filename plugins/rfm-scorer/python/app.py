"""Kith reference plugin `kith.rfm-python`: `kith.rfm` (`plugins/rfm-scorer`, Rust) ported to
Python, giving the same scores, grades, reasons and model bytes. Its own id, so that it can be
installed beside the Rust one and compared.

Recency (days since the last purchase), frequency (number of purchases) and monetary value
(purchase total in the configured currency) are each ranked into quintiles 1-5 against the
tenant's whole customer base; the cut points come from the population step. The grade is the
three-digit RFM code ("555" is the best customer); the score is the weighted mean quintile
scaled to 0-100 ("111" scores 20; customers without purchases score 0, grade "000").
"""

import struct

from kith_plugin import (
    InvalidConfig,
    InvalidInput,
    Plugin,
    aggregate,
    currency_exponent,
    days_between,
    export_scorer,
    finite,
    format_money,
    manifest,
    reason,
    score_output,
    total_in,
    types,
)

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "currency": {
            "description": "ISO 4217 currency whose purchase totals count as monetary value",
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "default": "USD",
        },
        "weights": {
            "description": "Relative weight of each dimension in the 0-100 score",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "recency": {"type": "number", "minimum": 0, "default": 1},
                "frequency": {"type": "number", "minimum": 0, "default": 1},
                "monetary": {"type": "number", "minimum": 0, "default": 1},
            },
        },
    },
}

# The model: a version byte and 12 little-endian i64 cut points (recency, frequency,
# monetary), 97 bytes, exactly as the Rust plugin writes it.
MODEL_VERSION = 1
MODEL = struct.Struct("<B12q")


def cuts(values):
    """Nearest-rank cut points at 20/40/60/80 %."""
    values = sorted(values)
    n = len(values)
    return [values[-(-k * n // 5) - 1] for k in (1, 2, 3, 4)]


def quintile_high(value, cut_points):
    """Quintile 1-5 of a value where higher is better."""
    return 1 + sum(1 for c in cut_points if value > c)


def quintile_low(value, cut_points):
    """Quintile 1-5 of a value where lower is better."""
    return 5 - sum(1 for c in cut_points if value > c)


def default_model(currency):
    unit = 10 ** currency_exponent(currency)
    return [30, 90, 180, 365], [1, 2, 4, 8], [50 * unit, 100 * unit, 250 * unit, 500 * unit]


def decode(model):
    if len(model) != MODEL.size or model[0] != MODEL_VERSION:
        raise InvalidInput(
            f"RFM model is not version {MODEL_VERSION} of {MODEL.size} bytes "
            f"(got {len(model)} bytes); run the population step again"
        )
    v = MODEL.unpack(model)[1:]
    return list(v[0:4]), list(v[4:8]), list(v[8:12])


def rfm_values(aggregates, currency, now):
    purchases = aggregate(aggregates, types.InteractionKind.PURCHASE)
    if purchases is None:
        return None
    recency = max(days_between(purchases.last_at, now), 0)
    return recency, purchases.count, total_in(purchases, currency)


class Rfm(Plugin):
    MANIFEST = manifest(
        "kith.rfm-python",
        "0.1.0",
        "RFM scorer (Python)",
        description="Ranks customers by recency, frequency and monetary value of their purchases "
        "into quintiles of the tenant's customer base. Grade: the RFM code (555 best); score 0-100.",
        industries=["retail", "e-commerce"],
        config_schema=CONFIG_SCHEMA,
        population=[],
    )
    DEFAULTS = {"currency": "USD", "weights": {"recency": 1, "frequency": 1, "monetary": 1}}

    def check_config(self, config):
        w = config["weights"]
        if not isinstance(w, dict):
            raise InvalidConfig("invalid configuration at weights: expected an object")
        weights = [w.get(k) for k in ("recency", "frequency", "monetary")]
        if any(not finite(x) or x < 0 for x in weights) or sum(weights) <= 0:
            raise InvalidConfig("weights must be finite, non-negative and not all zero")
        currency = config["currency"]
        if not isinstance(currency, str):
            raise InvalidConfig("invalid configuration at currency: expected a string")
        if len(currency) != 3 or not all("A" <= ch <= "Z" for ch in currency):
            raise InvalidConfig(f'currency "{currency}" is not an ISO 4217 code')

    def populate(self, config, input):
        values = [rfm_values(c.aggregates, config["currency"], input.now) for c in input.customers]
        values = [v for v in values if v is not None]
        if not values:
            return None
        r, f, m = zip(*values)
        return MODEL.pack(MODEL_VERSION, *cuts(r), *cuts(f), *cuts(m))

    def score(self, config, input):
        currency = config["currency"]
        values = rfm_values(input.customer.aggregates, currency, input.now)
        if values is None:
            return score_output(0.0, "000", [reason("no-purchases", "no purchases yet", 0.0)])
        recency, frequency, monetary = values
        fitted = input.model is not None
        r_cuts, f_cuts, m_cuts = decode(input.model) if fitted else default_model(currency)
        q = [
            quintile_low(recency, r_cuts),
            quintile_high(frequency, f_cuts),
            quintile_high(monetary, m_cuts),
        ]
        w = config["weights"]
        weights = [float(w["recency"]), float(w["frequency"]), float(w["monetary"])]
        total_weight = weights[0] + weights[1] + weights[2]

        def contribution(i):
            return 100.0 * weights[i] * q[i] / (5.0 * total_weight)

        score = contribution(0) + contribution(1) + contribution(2)
        reasons = [
            reason("recency", f"last purchase {recency} days ago (quintile {q[0]} of 5)", contribution(0)),
            reason("frequency", f"{frequency} purchases (quintile {q[1]} of 5)", contribution(1)),
            reason(
                "monetary",
                f"{format_money(monetary, currency)} spent (quintile {q[2]} of 5)",
                contribution(2),
            ),
        ]
        if not fitted:
            reasons.append(
                reason(
                    "default-thresholds",
                    "no population model yet; typical retail thresholds used",
                    0.0,
                )
            )
        return score_output(score, f"{q[0]}{q[1]}{q[2]}", reasons)


WitWorld = export_scorer(Rfm)
