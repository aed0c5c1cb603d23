"""Native tests of Kith plugins, with pytest or anything else: the same code path a component
runs (the `WitWorld` class the `export_*` functions build), minus the canonical ABI.

    from kith_plugin.testing import Harness, customer
    h = Harness(MyScorer, '{"bonus": 5}').now(1_000 * MICROS_PER_DAY)
    out = h.with_population([customer("a").purchase(0, 1000, "USD")]).score(customer("b").build())

Errors come back as `PluginFailure` with `kind` `invalid-config`, `invalid-input` or
`internal` and the message, as the host reports them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Iterable, Optional

from componentize_py_types import Err

from . import export_commerce_hook, export_scorer, export_segmenter, types


class PluginFailure(Exception):
    """A call returned the contract's `plugin-error`."""

    def __init__(self, error):
        self.kind = {
            types.PluginError_InvalidConfig: "invalid-config",
            types.PluginError_InvalidInput: "invalid-input",
            types.PluginError_Internal: "internal",
        }[type(error)]
        self.message = error.value
        super().__init__(f"{self.kind}: {self.message}")


def _call(f, *args):
    try:
        return f(*args)
    except Err as e:
        raise PluginFailure(e.value) from None


class Harness:
    """Calls a plugin class as the host would. `config` is the tenant's configuration (JSON
    text or a dict)."""

    def __init__(self, cls: type, config: str | dict = "{}"):
        if hasattr(cls, "handle"):
            self._world = export_commerce_hook(cls)()
        elif hasattr(cls, "classify"):
            self._world = export_segmenter(cls)()
        else:
            self._world = export_scorer(cls)()
        self._config = config if isinstance(config, str) else json.dumps(config)
        self._now = 0
        self._seed = 0
        self._model: Optional[bytes] = None

    def now(self, now: int) -> "Harness":
        """The host's time of every call (microseconds since the epoch)."""
        self._now = now
        return self

    def seed(self, seed: int) -> "Harness":
        """The randomness seed of every call."""
        self._seed = seed
        return self

    def model(self, model: Optional[bytes]) -> "Harness":
        """The population model passed to `score` and `classify`."""
        self._model = model
        return self

    def manifest(self) -> types.Manifest:
        """The manifest, as the host reads it."""
        return self._world.manifest()

    def population_input(self, customers: Iterable) -> types.PopulationInput:
        """The population step's input for these customers (views, builders or summaries)."""
        return types.PopulationInput(
            customers=[summary(c) for c in customers],
            config=self._config,
            now=self._now,
            seed=self._seed,
        )

    def populate(self, customers: Iterable) -> bytes:
        """Runs the population step; returns the model (empty: none)."""
        return _call(self._world.populate, self.population_input(customers))

    def with_population(self, customers: Iterable) -> "Harness":
        """Runs the population step and keeps its model for later calls."""
        model = self.populate(customers)
        return self.model(model or None)

    def customer_input(self, view) -> types.CustomerInput:
        """The input of `score` or `classify` for this customer (a view or a builder)."""
        view = view.build() if isinstance(view, CustomerBuilder) else view
        return types.CustomerInput(
            customer=view, config=self._config, now=self._now, seed=self._seed, model=self._model
        )

    def score(self, view) -> types.ScoreOutput:
        return _call(self._world.score, self.customer_input(view))

    def classify(self, view) -> list:
        return _call(self._world.classify, self.customer_input(view))

    def handle(self, webhook: types.Webhook) -> types.HookOutput:
        return _call(self._world.handle, webhook, self._config)


def summary(c) -> types.CustomerSummary:
    """The population summary of a customer (a view, a builder or a summary)."""
    if isinstance(c, CustomerBuilder):
        c = c.build()
    if isinstance(c, types.CustomerSummary):
        return c
    return types.CustomerSummary(
        id=c.id,
        lifecycle_stage=c.lifecycle_stage,
        created_at=c.created_at,
        aggregates=c.aggregates,
        attributes=c.attributes,
    )


def interaction(
    kind: types.InteractionKind,
    at: int = 0,
    amount: Optional[tuple[int, str]] = None,
    channel: types.Channel = types.Channel.E_COMMERCE,
    direction: types.Direction = types.Direction.INBOUND,
    rating: Optional[int] = None,
    status: Optional[str] = None,
) -> types.Interaction:
    """An interaction; `amount` is (minor units, currency)."""
    return types.Interaction(
        id="",
        channel=channel,
        kind=kind,
        direction=direction,
        occurred_at=at,
        amount=types.Money(amount=amount[0], currency=amount[1]) if amount else None,
        rating=rating,
        status=status,
        attributes=[],
    )


class CustomerBuilder:
    """Builds a `CustomerView`; interactions added also update its aggregates."""

    def __init__(self, id: str):
        self.view = types.CustomerView(
            id=id,
            kind=types.CustomerKind.PERSON,
            display_name=id,
            given_name=None,
            family_name=None,
            email=None,
            phone=None,
            country=None,
            region=None,
            city=None,
            lifecycle_stage=types.LifecycleStage.LEAD,
            tags=[],
            attributes=[],
            owner=None,
            marketing_consent=False,
            created_at=0,
            aggregates=[],
            recent_interactions=[],
            open_deals=[],
        )
        self._interactions: list[types.Interaction] = []

    def set(self, **fields) -> "CustomerBuilder":
        """Sets fields of the view by name (`country="DE"`, `tags=["vip"]`)."""
        self.view = dataclasses.replace(self.view, **fields)
        return self

    def interaction(self, i: types.Interaction) -> "CustomerBuilder":
        i = copy.copy(i)
        if not i.id:
            i.id = f"{self.view.id}-i{len(self._interactions)}"
        self._interactions.append(i)
        return self

    def purchase(self, at: int, amount: int, currency: str) -> "CustomerBuilder":
        """Adds an e-commerce purchase of `amount` minor units of `currency` at `at`."""
        return self.interaction(
            interaction(types.InteractionKind.PURCHASE, at=at, amount=(amount, currency))
        )

    def build(self) -> types.CustomerView:
        recent = sorted(self._interactions, key=lambda i: -i.occurred_at)
        return dataclasses.replace(
            self.view, aggregates=_aggregate(recent), recent_interactions=recent
        )


def customer(id: str) -> CustomerBuilder:
    """Starts building a customer: a person named after `id`, stage `lead`, created at 0."""
    return CustomerBuilder(id)


def _aggregate(interactions: list) -> list:
    out: list[types.InteractionAggregate] = []
    for i in interactions:
        a = next((a for a in out if a.kind == i.kind), None)
        if a is None:
            a = types.InteractionAggregate(
                kind=i.kind, count=0, totals=[], first_at=i.occurred_at, last_at=i.occurred_at
            )
            out.append(a)
        a.count += 1
        a.first_at = min(a.first_at, i.occurred_at)
        a.last_at = max(a.last_at, i.occurred_at)
        if i.amount is not None:
            total = next((m for m in a.totals if m.currency == i.amount.currency), None)
            if total is None:
                a.totals.append(types.Money(amount=i.amount.amount, currency=i.amount.currency))
            else:
                total.amount += i.amount.amount
    return out


def assert_manifest_valid(cls: type) -> types.Manifest:
    """Reads the manifest as the host does and checks what the host checks first: an id, a
    semantic version, a name, a JSON object as configuration schema, one capability."""
    m = Harness(cls).manifest()
    assert m.id and all(part for part in m.id.split(".")), f"bad id {m.id!r}"
    parts = m.version.split("-")[0].split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts), f"bad version {m.version!r}"
    assert m.name, "the manifest needs a name"
    assert isinstance(json.loads(m.config_schema), dict), "the config schema is not an object"
    assert len(m.capabilities) == 1, m.capabilities
    return m
