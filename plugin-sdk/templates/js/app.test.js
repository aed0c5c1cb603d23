// Native tests of {{name}} (node --test), through the SDK's harness.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as exports from "./app.js";
import { MICROS_PER_DAY } from "./kith-plugin.js";
import { Harness, PluginFailure, assertManifestValid, customer } from "./kith-plugin-testing.js";

test("the manifest is valid", () => {
  assert.equal(assertManifestValid(exports).id, "{{id}}");
});

test("ten points a purchase, up to the maximum", () => {
  const buyer = customer("c1");
  for (let day = 0n; day < 3n; day++) buyer.purchase(day * MICROS_PER_DAY, 1999n, "EUR");
  const out = new Harness(exports).score(buyer);
  assert.equal(out.score, 30);
  assert.equal(out.grade, "B");
  assert.equal(new Harness(exports, { max_points: 20 }).score(buyer).score, 20);
});

test("a bad configuration is an invalid-config error", () => {
  assert.throws(
    () => new Harness(exports, "{not json").score(customer("c1")),
    (e) => e instanceof PluginFailure && e.kind === "invalid-config",
  );
});
