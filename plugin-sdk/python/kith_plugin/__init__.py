"""Write Kith plugins in Python.

The Python twin of the Rust SDK (`kith-plugin-sdk`): a plugin is a class with a manifest, the
defaults of its configuration and one method per call of its world. The SDK turns it into the
`WitWorld` class componentize-py exports, parses the tenant's configuration (JSON, merged over
the plugin's defaults), and maps exceptions to the contract's errors:

    from kith_plugin import Plugin, manifest, score_output, export_scorer

    class Fit(Plugin):
        MANIFEST = manifest("acme.fit", "0.1.0", "Fit score", population=None)
        DEFAULTS = {"bonus": 10}

        def score(self, config, input):
            return score_output(42.0 + config["bonus"], grade="A")

    WitWorld = export_scorer(Fit)

Raise `InvalidConfig` or `InvalidInput` with a message for the host's `invalid-config` and
`invalid-input` errors; any other exception becomes `internal` with its type and message, so a
bug in a plugin is a clear, per-customer failure, never a trap.

Every type of the contract is the generated dataclass (`kith_plugin.types.CustomerView`,
`kith_plugin.types.ScoreOutput`, ...): field names are the WIT's with `_` for `-`, `option<T>`
is `T | None`, `list<u8>` is `bytes`, enums are `enum.Enum` members in upper case, variants
are one class per case (`AttributeValue_Text(value=...)`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Optional

from componentize_py_types import Err
from wit_world.imports import types

__all__ = [
    "types",
    "Plugin",
    "InvalidConfig",
    "InvalidInput",
    "manifest",
    "score_output",
    "reason",
    "membership",
    "export_scorer",
    "export_segmenter",
    "export_commerce_hook",
    "parse_config",
    "currency_exponent",
    "format_money",
    "total_in",
    "aggregate",
    "days_between",
    "MICROS_PER_DAY",
    "finite",
]

MICROS_PER_DAY = 86_400_000_000


class InvalidConfig(Exception):
    """The tenant's configuration cannot be used (the host's `invalid-config`)."""


class InvalidInput(Exception):
    """The input cannot be used, e.g. a model from another version (`invalid-input`)."""


class Plugin:
    """Base of every plugin: set `MANIFEST` (see `manifest()`) and `DEFAULTS`, the defaults of
    the configuration, and implement the world's methods:

    - scorer: `score(config, input) -> ScoreOutput`, optionally `populate(config, input)`;
    - segmenter: `classify(config, input) -> list[Membership]`, optionally `populate`;
    - commerce hook: `handle(config, webhook) -> HookOutput`.

    `config` is the tenant's JSON configuration merged over `DEFAULTS` (objects merge key by
    key, everything else replaces), after `check_config` accepted it.
    """

    MANIFEST: types.Manifest
    DEFAULTS: dict = {}

    def check_config(self, config: dict) -> None:
        """Raise `InvalidConfig` if `config` is unusable. The host already validated it against
        the manifest's JSON Schema; check here what a schema cannot say."""

    def populate(self, config: dict, input: types.PopulationInput) -> Optional[bytes]:
        """Build the population model; `None` means no model."""
        return None


def manifest(
    id: str,
    version: str,
    name: str,
    *,
    description: str = "",
    industries: Iterable[str] = (),
    config_schema: str | dict = '{"type":"object"}',
    recent_interactions: int = 0,
    population: Optional[Iterable[str]] = None,
    segments: Iterable[tuple[str, str, str]] = (),
) -> types.Manifest:
    """A manifest. `population` lists the attributes the population step needs (`[]` for
    none); `None` means the plugin has no population step. `segments` are (id, name,
    description) triples. The capability is added by the `export_*` function."""
    schema = config_schema if isinstance(config_schema, str) else json.dumps(config_schema)
    return types.Manifest(
        id=id,
        version=version,
        name=name,
        description=description,
        industries=list(industries),
        capabilities=[],
        config_schema=schema,
        needs=types.InputNeeds(
            recent_interactions=recent_interactions,
            population=population is not None,
            population_attributes=list(population or []),
        ),
        segments=[types.SegmentInfo(id=i, name=n, description=d) for (i, n, d) in segments],
    )


def reason(code: str, message: str, contribution: float = 0.0) -> types.Reason:
    """One reason behind a score."""
    return types.Reason(code=code, message=message, contribution=float(contribution))


def score_output(
    score: float,
    grade: Optional[str] = None,
    reasons: Iterable[types.Reason] = (),
    actions: Iterable[Any] = (),
) -> types.ScoreOutput:
    """What a scorer returns."""
    return types.ScoreOutput(
        score=float(score), grade=grade, reasons=list(reasons), actions=list(actions)
    )


def membership(segment: str, reason: str) -> types.Membership:
    """Membership in `segment` (an id from the manifest) for `reason`."""
    return types.Membership(segment=segment, reason=reason)


def _merge(defaults: Any, given: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(given, dict):
        merged = dict(defaults)
        for key, value in given.items():
            merged[key] = _merge(defaults.get(key), value) if key in defaults else value
        return merged
    return given


def parse_config(plugin: Plugin, text: str) -> dict:
    """The tenant's configuration merged over the plugin's defaults, checked by the plugin."""
    try:
        given = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise InvalidConfig(f"invalid configuration: {e}") from None
    if not isinstance(given, dict):
        raise InvalidConfig("invalid configuration: expected a JSON object")
    config = _merge(plugin.DEFAULTS, given)
    plugin.check_config(config)
    return config


def _guard(call):
    """Runs `call`, mapping exceptions to the contract's `plugin-error`."""
    try:
        return call()
    except Err:
        raise
    except InvalidConfig as e:
        raise Err(types.PluginError_InvalidConfig(str(e))) from None
    except InvalidInput as e:
        raise Err(types.PluginError_InvalidInput(str(e))) from None
    except Exception as e:  # a bug in the plugin: fail this call, with what happened
        raise Err(types.PluginError_Internal(f"{type(e).__name__}: {e}")) from None


def _manifest_of(plugin: Plugin, capability: types.Capability) -> types.Manifest:
    m = plugin.MANIFEST
    capabilities = list(m.capabilities)
    if capability not in capabilities:
        capabilities.append(capability)
    return types.Manifest(
        id=m.id,
        version=m.version,
        name=m.name,
        description=m.description,
        industries=list(m.industries),
        capabilities=capabilities,
        config_schema=m.config_schema,
        needs=m.needs,
        segments=list(m.segments),
    )


def _populate(plugin: Plugin, input: types.PopulationInput) -> bytes:
    config = parse_config(plugin, input.config)
    return bytes(plugin.populate(config, input) or b"")


def export_scorer(cls: type) -> type:
    """The `WitWorld` class of the `scorer` world for plugin class `cls`."""
    plugin = cls()

    class WitWorld:
        def manifest(self) -> types.Manifest:
            return _manifest_of(plugin, types.Capability.SCORER)

        def populate(self, input: types.PopulationInput) -> bytes:
            return _guard(lambda: _populate(plugin, input))

        def score(self, input: types.CustomerInput) -> types.ScoreOutput:
            return _guard(lambda: plugin.score(parse_config(plugin, input.config), input))

    return WitWorld


def export_segmenter(cls: type) -> type:
    """The `WitWorld` class of the `segmenter` world for plugin class `cls`."""
    plugin = cls()

    class WitWorld:
        def manifest(self) -> types.Manifest:
            return _manifest_of(plugin, types.Capability.SEGMENTER)

        def populate(self, input: types.PopulationInput) -> bytes:
            return _guard(lambda: _populate(plugin, input))

        def classify(self, input: types.CustomerInput) -> list:
            return _guard(lambda: list(plugin.classify(parse_config(plugin, input.config), input)))

    return WitWorld


def export_commerce_hook(cls: type) -> type:
    """The `WitWorld` class of the `commerce-hook` world for plugin class `cls`."""
    plugin = cls()

    class WitWorld:
        def manifest(self) -> types.Manifest:
            return _manifest_of(plugin, types.Capability.COMMERCE_HOOK)

        def handle(self, webhook: types.Webhook, config: str) -> types.HookOutput:
            return _guard(lambda: plugin.handle(parse_config(plugin, config), webhook))

    return WitWorld


# --- Helpers, as the Rust SDK's ---------------------------------------------------------------

_EXPONENT_0 = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_4 = frozenset(("CLF", "UYW"))


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency (2 unless listed as an exception)."""
    if currency in _EXPONENT_0:
        return 0
    if currency in _EXPONENT_3:
        return 3
    if currency in _EXPONENT_4:
        return 4
    return 2


def format_money(amount: int, currency: str) -> str:
    """Minor units as a decimal with the currency's exponent, e.g. `19.99 EUR`."""
    exponent = currency_exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole} {currency}"
    return f"{sign}{whole}.{fraction:0{exponent}d} {currency}"


def aggregate(
    aggregates: Iterable[types.InteractionAggregate], kind: types.InteractionKind
) -> Optional[types.InteractionAggregate]:
    """The aggregate of interactions of `kind`, if the customer has any."""
    return next((a for a in aggregates if a.kind == kind), None)


_I64_MAX = (1 << 63) - 1
_I64_MIN = -(1 << 63)


def total_in(agg: types.InteractionAggregate, currency: str) -> int:
    """The sum of an aggregate's amounts in `currency`, in minor units (saturating at 64 bits,
    as the host's arithmetic does)."""
    total = sum(m.amount for m in agg.totals if m.currency == currency)
    return max(_I64_MIN, min(_I64_MAX, total))


def days_between(earlier: int, later: int) -> int:
    """Whole days from `earlier` to `later` (timestamps in microseconds), rounded down."""
    return (later - earlier) // MICROS_PER_DAY


def finite(x: float) -> bool:
    """Whether `x` is a finite number."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
