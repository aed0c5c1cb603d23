// Native tests of the JavaScript port of kith.rfm (node --test), the same cases as the Rust
// plugin's.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as plugin from "./app.js";
import { MICROS_PER_DAY } from "./kith-plugin.js";
import { Harness, PluginFailure, assertManifestValid, customer } from "./kith-plugin-testing.js";

const NOW = 1000n * MICROS_PER_DAY;
const daysAgo = (days) => NOW - BigInt(days) * MICROS_PER_DAY;

/** Ten customers: customer k bought k times for k * 10.00 USD each; higher k bought more
 * recently. */
function base() {
  const out = [];
  for (let k = 1; k <= 10; k++) {
    const c = customer(`c${k}`);
    for (let n = 0; n < k; n++) c.purchase(daysAgo(100 - k * 10 + n), BigInt(1000 * k), "USD");
    out.push(c.build());
  }
  return out;
}

const harness = () => new Harness(plugin, '{"currency":"USD"}').now(NOW);
const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test("manifest declares population step", () => {
  const m = assertManifestValid(plugin);
  assert.equal(m.needs.population, true);
  assert.equal(m.id, "kith.rfm-js");
});

test("best customer gets 555 and 100", () => {
  const out = harness().withPopulation(base()).score(base().at(-1));
  assert.equal(out.grade, "555");
  close(out.score, 100);
  assert.deepEqual(out.reasons.map((r) => r.code), ["recency", "frequency", "monetary"]);
  close(out.reasons.reduce((s, r) => s + r.contribution, 0), out.score);
});

test("weakest customer gets 111 and 20", () => {
  const out = harness().withPopulation(base()).score(base()[0]);
  assert.equal(out.grade, "111");
  close(out.score, 20);
});

test("model is compact and deterministic", () => {
  const a = harness().populate(base());
  const b = harness().seed(7).populate(base().reverse());
  assert.equal(a.length, 97);
  assert.deepEqual(a, b);
});

test("customers without purchases score zero", () => {
  const out = harness().score(customer("new"));
  assert.equal(out.score, 0);
  assert.equal(out.grade, "000");
});

test("population without buyers gives no model and defaults apply", () => {
  const h = harness().withPopulation([customer("x")]);
  const out = h.score(customer("y").purchase(daysAgo(5), 10000n, "USD"));
  assert.ok(out.reasons.some((r) => r.code === "default-thresholds"));
  assert.equal(out.grade, "512");
});

test("other currencies do not count as monetary", () => {
  const out = harness()
    .withPopulation(base())
    .score(customer("eur").purchase(daysAgo(1), 99999999n, "EUR"));
  assert.equal(out.grade[2], "1");
});

test("corrupt model and bad config are clear errors", () => {
  const kind = (f) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof PluginFailure, String(e));
      return [e.kind, e.detail];
    }
    assert.fail("no error");
  };
  assert.equal(kind(() => harness().model(new Uint8Array([1, 2, 3])).score(base()[0]))[0], "invalid-input");
  assert.equal(kind(() => new Harness(plugin, '{"weights":{"recency":-1}}').score(base()[0]))[0], "invalid-config");
  const [k, detail] = kind(() => new Harness(plugin, '{"currency":5}').score(base()[0]));
  assert.equal(k, "invalid-config");
  assert.match(detail, /currency/);
});
