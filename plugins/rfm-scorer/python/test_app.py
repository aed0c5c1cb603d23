"""Native tests of the Python port of kith.rfm (pytest), the same cases as the Rust plugin's."""

import pytest

from app import Rfm
from kith_plugin import MICROS_PER_DAY
from kith_plugin.testing import Harness, PluginFailure, assert_manifest_valid, customer

NOW = 1_000 * MICROS_PER_DAY


def days_ago(days):
    return NOW - days * MICROS_PER_DAY


def base():
    """Ten customers: customer k bought k times for k * 10.00 USD each; higher k bought more
    recently."""
    out = []
    for k in range(1, 11):
        c = customer(f"c{k}")
        for n in range(k):
            c.purchase(days_ago(100 - k * 10 + n), 1_000 * k, "USD")
        out.append(c.build())
    return out


def harness():
    return Harness(Rfm, '{"currency":"USD"}').now(NOW)


def test_manifest_declares_population_step():
    m = assert_manifest_valid(Rfm)
    assert m.needs.population
    assert m.id == "kith.rfm-python"


def test_best_customer_gets_555_and_100():
    out = harness().with_population(base()).score(base()[-1])
    assert out.grade == "555"
    assert out.score == pytest.approx(100.0)
    assert [r.code for r in out.reasons] == ["recency", "frequency", "monetary"]
    assert sum(r.contribution for r in out.reasons) == pytest.approx(out.score)


def test_weakest_customer_gets_111_and_20():
    out = harness().with_population(base()).score(base()[0])
    assert (out.grade, out.score) == ("111", pytest.approx(20.0))


def test_model_is_compact_and_deterministic():
    a = harness().populate(base())
    b = harness().seed(7).populate(reversed(base()))
    assert len(a) == 97
    assert a == b


def test_customers_without_purchases_score_zero():
    out = harness().score(customer("new"))
    assert (out.score, out.grade) == (0.0, "000")


def test_population_without_buyers_gives_no_model_and_defaults_apply():
    h = harness().with_population([customer("x")])
    out = h.score(customer("y").purchase(days_ago(5), 10_000, "USD"))
    assert any(r.code == "default-thresholds" for r in out.reasons)
    assert out.grade == "512"


def test_other_currencies_do_not_count_as_monetary():
    h = harness().with_population(base())
    out = h.score(customer("eur").purchase(days_ago(1), 99_999_999, "EUR"))
    assert out.grade[2] == "1"


def test_corrupt_model_and_bad_config_are_clear_errors():
    with pytest.raises(PluginFailure) as e:
        harness().model(bytes([1, 2, 3])).score(base()[0])
    assert e.value.kind == "invalid-input"
    with pytest.raises(PluginFailure) as e:
        Harness(Rfm, '{"weights":{"recency":-1}}').score(base()[0])
    assert e.value.kind == "invalid-config"
    with pytest.raises(PluginFailure) as e:
        Harness(Rfm, '{"currency":5}').score(base()[0])
    assert e.value.kind == "invalid-config" and "currency" in e.value.message


def test_a_bug_is_an_internal_error_not_a_crash():
    class Broken(Rfm):
        def score(self, config, input):
            return 1 / 0

    with pytest.raises(PluginFailure) as e:
        Harness(Broken).score(base()[0])
    assert e.value.kind == "internal" and "ZeroDivisionError" in e.value.message
