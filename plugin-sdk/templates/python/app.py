"""{{name}}: a Kith scorer written in Python.

Scores a customer from their purchases: 10 points per purchase, up to `max_points`. Replace
`score` with your own logic; `populate` can learn from all of a tenant's customers first (see
the SDK's docstrings in kith_plugin/__init__.py).
"""

from kith_plugin import (
    Plugin,
    aggregate,
    export_scorer,
    manifest,
    reason,
    score_output,
    types,
)

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_points": {"type": "number", "minimum": 0, "default": 100},
    },
}


class {{class}}(Plugin):
    MANIFEST = manifest(
        "{{id}}",
        "0.1.0",
        "{{name}}",
        description="Scores customers by how often they bought (10 points a purchase).",
        config_schema=CONFIG_SCHEMA,
    )
    DEFAULTS = {"max_points": 100}

    def score(self, config, input):
        purchases = aggregate(input.customer.aggregates, types.InteractionKind.PURCHASE)
        count = purchases.count if purchases else 0
        points = min(10.0 * count, float(config["max_points"]))
        return score_output(
            points,
            grade="A" if points >= 50 else "B",
            reasons=[reason("purchases", f"{count} purchases", points)],
        )


WitWorld = export_scorer({{class}})
