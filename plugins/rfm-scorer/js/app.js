// Kith reference plugin `kith.rfm-js`: `kith.rfm` (`plugins/rfm-scorer`, Rust) ported to
// JavaScript, giving the same scores, grades, reasons and model bytes. Its own id, so that it can
// be installed beside the Rust one and compared.
//
// Recency (days since the last purchase), frequency (number of purchases) and monetary value
// (purchase total in the configured currency) are each ranked into quintiles 1-5 against the
// tenant's whole customer base; the cut points come from the population step. The grade is the
// three-digit RFM code ("555" is the best customer); the score is the weighted mean quintile
// scaled to 0-100 ("111" scores 20; customers without purchases score 0, grade "000").

import {
  InvalidConfig,
  InvalidInput,
  aggregate,
  currencyExponent,
  daysBetween,
  exportScorer,
  formatMoney,
  makeManifest,
  reason,
  scoreOutput,
  totalIn,
} from "./kith-plugin.js";

export const CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  properties: {
    currency: {
      description: "ISO 4217 currency whose purchase totals count as monetary value",
      type: "string",
      pattern: "^[A-Z]{3}$",
      default: "USD",
    },
    weights: {
      description: "Relative weight of each dimension in the 0-100 score",
      type: "object",
      additionalProperties: false,
      properties: {
        recency: { type: "number", minimum: 0, default: 1 },
        frequency: { type: "number", minimum: 0, default: 1 },
        monetary: { type: "number", minimum: 0, default: 1 },
      },
    },
  },
};

// The model: a version byte and 12 little-endian i64 cut points (recency, frequency,
// monetary), 97 bytes, exactly as the Rust plugin writes it.
const MODEL_VERSION = 1;
const MODEL_BYTES = 97;

/** Nearest-rank cut points at 20/40/60/80 % of BigInt values. */
export function cuts(values) {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const n = sorted.length;
  return [1, 2, 3, 4].map((k) => sorted[Math.ceil((k * n) / 5) - 1]);
}

/** Quintile 1-5 of a value where higher is better. */
export const quintileHigh = (value, cutPoints) => 1 + cutPoints.filter((c) => value > c).length;

/** Quintile 1-5 of a value where lower is better. */
export const quintileLow = (value, cutPoints) => 5 - cutPoints.filter((c) => value > c).length;

function defaultModel(currency) {
  const unit = 10n ** BigInt(currencyExponent(currency));
  return [
    [30n, 90n, 180n, 365n],
    [1n, 2n, 4n, 8n],
    [50n * unit, 100n * unit, 250n * unit, 500n * unit],
  ];
}

function encode(dimensions) {
  const bytes = new Uint8Array(MODEL_BYTES);
  const view = new DataView(bytes.buffer);
  bytes[0] = MODEL_VERSION;
  dimensions.flat().forEach((v, i) => view.setBigInt64(1 + 8 * i, v, true));
  return bytes;
}

function decode(model) {
  if (model.length !== MODEL_BYTES || model[0] !== MODEL_VERSION) {
    throw new InvalidInput(
      `RFM model is not version ${MODEL_VERSION} of ${MODEL_BYTES} bytes (got ${model.length} bytes); run the population step again`,
    );
  }
  const view = new DataView(model.buffer, model.byteOffset, model.byteLength);
  const at = (i) => view.getBigInt64(1 + 8 * i, true);
  return [0, 1, 2].map((d) => [0, 1, 2, 3].map((k) => at(4 * d + k)));
}

function rfmValues(aggregates, currency, now) {
  const purchases = aggregate(aggregates, "purchase");
  if (purchases === undefined) return undefined;
  const days = daysBetween(purchases.lastAt, now);
  return [days > 0n ? days : 0n, BigInt(purchases.count), totalIn(purchases, currency)];
}

const finite = (x) => typeof x === "number" && Number.isFinite(x);

export const Rfm = {
  manifest: makeManifest("kith.rfm-js", "0.1.0", "RFM scorer (JavaScript)", {
    description:
      "Ranks customers by recency, frequency and monetary value of their purchases into quintiles " +
      "of the tenant's customer base. Grade: the RFM code (555 best); score 0-100.",
    industries: ["retail", "e-commerce"],
    configSchema: CONFIG_SCHEMA,
    population: [],
  }),
  defaults: { currency: "USD", weights: { recency: 1, frequency: 1, monetary: 1 } },

  checkConfig(config) {
    const w = config.weights;
    if (typeof w !== "object" || w === null) {
      throw new InvalidConfig("invalid configuration at weights: expected an object");
    }
    const weights = [w.recency, w.frequency, w.monetary];
    if (weights.some((x) => !finite(x) || x < 0) || weights[0] + weights[1] + weights[2] <= 0) {
      throw new InvalidConfig("weights must be finite, non-negative and not all zero");
    }
    if (typeof config.currency !== "string") {
      throw new InvalidConfig("invalid configuration at currency: expected a string");
    }
    if (!/^[A-Z]{3}$/.test(config.currency)) {
      throw new InvalidConfig(`currency "${config.currency}" is not an ISO 4217 code`);
    }
  },

  populate(config, input) {
    const values = input.customers
      .map((c) => rfmValues(c.aggregates, config.currency, input.now))
      .filter((v) => v !== undefined);
    if (values.length === 0) return undefined;
    return encode([0, 1, 2].map((d) => cuts(values.map((v) => v[d]))));
  },

  score(config, input) {
    const currency = config.currency;
    const values = rfmValues(input.customer.aggregates, currency, input.now);
    if (values === undefined) {
      return scoreOutput(0, { grade: "000", reasons: [reason("no-purchases", "no purchases yet", 0)] });
    }
    const [recency, frequency, monetary] = values;
    const fitted = input.model !== undefined && input.model !== null;
    const [rCuts, fCuts, mCuts] = fitted ? decode(input.model) : defaultModel(currency);
    const q = [
      quintileLow(recency, rCuts),
      quintileHigh(frequency, fCuts),
      quintileHigh(monetary, mCuts),
    ];
    const w = config.weights;
    const weights = [w.recency, w.frequency, w.monetary];
    const total = weights[0] + weights[1] + weights[2];
    const contribution = (i) => (100 * weights[i] * q[i]) / (5 * total);
    const score = contribution(0) + contribution(1) + contribution(2);
    const reasons = [
      reason("recency", `last purchase ${recency} days ago (quintile ${q[0]} of 5)`, contribution(0)),
      reason("frequency", `${frequency} purchases (quintile ${q[1]} of 5)`, contribution(1)),
      reason(
        "monetary",
        `${formatMoney(monetary, currency)} spent (quintile ${q[2]} of 5)`,
        contribution(2),
      ),
    ];
    if (!fitted) {
      reasons.push(
        reason("default-thresholds", "no population model yet; typical retail thresholds used", 0),
      );
    }
    return scoreOutput(score, { grade: `${q[0]}${q[1]}${q[2]}`, reasons });
  },
};

export const { manifest, populate, score } = exportScorer(Rfm);
