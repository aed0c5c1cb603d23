// Native tests of Kith plugins with node's test runner (`node --test`): the same exported
// functions a component runs, minus the canonical ABI.
//
//   import { Harness, customer } from "./kith-plugin-testing.js";
//   const h = new Harness(exports, '{"bonus": 5}').now(1000n * MICROS_PER_DAY);
//   const out = h.withPopulation([customer("a").purchase(0n, 1000n, "USD")]).score(customer("b"));
//
// `exports` is the object `exportScorer` (or `exportSegmenter`, `exportCommerceHook`) returned.
// Errors come back as `PluginFailure` with `kind` "invalid-config", "invalid-input" or
// "internal" and the message, as the host reports them.

/** A call returned the contract's `plugin-error`. */
export class PluginFailure extends Error {
  constructor(error) {
    super(`${error.tag}: ${error.val}`);
    this.kind = error.tag;
    this.detail = error.val;
  }
}

function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    if (e && typeof e.tag === "string") throw new PluginFailure(e);
    throw e;
  }
}

/** Calls a plugin's exports as the host would; `config` is JSON text or an object. */
export class Harness {
  constructor(exports, config = "{}") {
    this.exports = exports;
    this.config = typeof config === "string" ? config : JSON.stringify(config);
    this.nowValue = 0n;
    this.seedValue = 0n;
    this.modelValue = undefined;
  }

  /** The host's time of every call (BigInt microseconds since the epoch). */
  now(now) {
    this.nowValue = BigInt(now);
    return this;
  }

  /** The randomness seed of every call. */
  seed(seed) {
    this.seedValue = BigInt(seed);
    return this;
  }

  /** The population model passed to `score` and `classify` (a Uint8Array or undefined). */
  model(model) {
    this.modelValue = model;
    return this;
  }

  manifest() {
    return this.exports.manifest();
  }

  populationInput(customers) {
    return {
      customers: [...customers].map(summary),
      config: this.config,
      now: this.nowValue,
      seed: this.seedValue,
    };
  }

  /** Runs the population step; returns the model (empty: none). */
  populate(customers) {
    return call(this.exports.populate, this.populationInput(customers));
  }

  /** Runs the population step and keeps its model for later calls. */
  withPopulation(customers) {
    const model = this.populate(customers);
    return this.model(model.length > 0 ? model : undefined);
  }

  customerInput(view) {
    return {
      customer: view instanceof CustomerBuilder ? view.build() : view,
      config: this.config,
      now: this.nowValue,
      seed: this.seedValue,
      model: this.modelValue,
    };
  }

  score(view) {
    return call(this.exports.score, this.customerInput(view));
  }

  classify(view) {
    return call(this.exports.classify, this.customerInput(view));
  }

  handle(webhook) {
    return call(this.exports.handle, webhook, this.config);
  }
}

/** The population summary of a customer (a view or a builder). */
export function summary(c) {
  const v = c instanceof CustomerBuilder ? c.build() : c;
  return {
    id: v.id,
    lifecycleStage: v.lifecycleStage,
    createdAt: v.createdAt,
    aggregates: v.aggregates,
    attributes: v.attributes,
  };
}

/** An interaction; `amount` is [BigInt minor units, currency]. */
export function interaction(kind, { at = 0n, amount, channel = "e-commerce", direction = "inbound", rating, status } = {}) {
  return {
    id: "",
    channel,
    kind,
    direction,
    occurredAt: BigInt(at),
    amount: amount ? { amount: BigInt(amount[0]), currency: amount[1] } : undefined,
    rating,
    status,
    attributes: [],
  };
}

/** Builds a customer view; interactions added also update its aggregates. */
export class CustomerBuilder {
  constructor(id) {
    this.view = {
      id,
      kind: "person",
      displayName: id,
      lifecycleStage: "lead",
      tags: [],
      attributes: [],
      marketingConsent: false,
      createdAt: 0n,
      aggregates: [],
      recentInteractions: [],
      openDeals: [],
    };
    this.interactions = [];
  }

  /** Sets fields of the view by name (`{ country: "DE", tags: ["vip"] }`). */
  set(fields) {
    Object.assign(this.view, fields);
    return this;
  }

  interaction(i) {
    this.interactions.push({ ...i, id: i.id || `${this.view.id}-i${this.interactions.length}` });
    return this;
  }

  /** Adds an e-commerce purchase of `amount` minor units of `currency` at `at` (BigInts). */
  purchase(at, amount, currency) {
    return this.interaction(interaction("purchase", { at, amount: [amount, currency] }));
  }

  build() {
    const recent = [...this.interactions].sort((a, b) =>
      a.occurredAt > b.occurredAt ? -1 : a.occurredAt < b.occurredAt ? 1 : 0,
    );
    return { ...this.view, aggregates: aggregateAll(recent), recentInteractions: recent };
  }
}

/** Starts building a customer: a person named after `id`, stage "lead", created at 0. */
export const customer = (id) => new CustomerBuilder(id);

function aggregateAll(interactions) {
  const out = [];
  for (const i of interactions) {
    let a = out.find((x) => x.kind === i.kind);
    if (!a) {
      a = { kind: i.kind, count: 0n, totals: [], firstAt: i.occurredAt, lastAt: i.occurredAt };
      out.push(a);
    }
    a.count += 1n;
    if (i.occurredAt < a.firstAt) a.firstAt = i.occurredAt;
    if (i.occurredAt > a.lastAt) a.lastAt = i.occurredAt;
    if (i.amount) {
      const t = a.totals.find((m) => m.currency === i.amount.currency);
      if (t) t.amount += i.amount.amount;
      else a.totals.push({ ...i.amount });
    }
  }
  return out;
}

/** Reads the manifest as the host does and checks what the host checks first. */
export function assertManifestValid(exports) {
  const m = exports.manifest();
  if (!m.id || m.id.split(".").some((p) => p === "")) throw new Error(`bad id ${m.id}`);
  if (!/^\d+\.\d+\.\d+(-.+)?$/.test(m.version)) throw new Error(`bad version ${m.version}`);
  if (!m.name) throw new Error("the manifest needs a name");
  const schema = JSON.parse(m.configSchema);
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new Error("the config schema is not an object");
  }
  if (m.capabilities.length !== 1) throw new Error(`capabilities: ${m.capabilities}`);
  return m;
}
