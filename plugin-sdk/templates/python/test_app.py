"""Native tests of {{name}} (pytest), through the SDK's harness."""

import pytest

from app import {{class}}
from kith_plugin import MICROS_PER_DAY
from kith_plugin.testing import Harness, PluginFailure, assert_manifest_valid, customer


def test_manifest_is_valid():
    assert assert_manifest_valid({{class}}).id == "{{id}}"


def test_ten_points_a_purchase_up_to_the_maximum():
    buyer = customer("c1")
    for day in range(3):
        buyer.purchase(day * MICROS_PER_DAY, 1999, "EUR")
    out = Harness({{class}}).score(buyer)
    assert (out.score, out.grade) == (30.0, "B")
    assert Harness({{class}}, {"max_points": 20}).score(buyer).score == 20.0


def test_bad_configuration_is_an_invalid_config_error():
    with pytest.raises(PluginFailure) as e:
        Harness({{class}}, "{not json").score(customer("c1"))
    assert e.value.kind == "invalid-config"
