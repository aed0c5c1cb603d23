// Write Kith plugins in JavaScript: the JS twin of the Rust SDK (`kith-plugin-sdk`).
//
// A plugin is an object with a manifest, the defaults of its configuration and one function
// per call of its world; `exportScorer` (or `exportSegmenter`, `exportCommerceHook`) turns it
// into the functions the component exports, parses the tenant's configuration (JSON, merged
// over the defaults) and maps exceptions to the contract's errors:
//
//   import { exportScorer, makeManifest, scoreOutput } from "./kith-plugin.js";
//   const Fit = {
//     manifest: makeManifest("acme.fit", "0.1.0", "Fit score"),
//     defaults: { bonus: 10 },
//     score: (config, input) => scoreOutput(42 + config.bonus, { grade: "A" }),
//   };
//   export const { manifest, populate, score } = exportScorer(Fit);
//
// Values follow the component model's JavaScript mapping (jco, componentize-js,
// componentize-qjs): records are objects with camelCase fields, enums are their kebab-case
// names ("purchase"), options are `undefined` when absent, `list<u8>` is a Uint8Array, and
// 64-bit integers (timestamps, counts, money amounts, seeds) are BigInt: `input.now` is a
// BigInt of microseconds. (componentize-js passes 64-bit integers as BigInt, componentize-qjs
// as Number; the SDK gives plugins BigInt on both, and converts what they return, which may
// use either, to what the engine expects.) Throw `InvalidConfig` or `InvalidInput` for the host's
// `invalid-config` and `invalid-input`; any other exception becomes `internal` with its
// message, so a bug is a clear, per-customer failure, never a trap.

/** Microseconds in a day, as a BigInt. */
export const MICROS_PER_DAY = 86_400_000_000n;

/** The tenant's configuration cannot be used (the host's `invalid-config`). */
export class InvalidConfig extends Error {}

/** The input cannot be used, e.g. a model from another version (`invalid-input`). */
export class InvalidInput extends Error {}

/** A manifest; `population` lists the attributes the population step needs (`[]` for none),
 * `undefined` means no population step; `segments` are `{id, name, description}` objects. */
export function makeManifest(id, version, name, options = {}) {
  const schema = options.configSchema ?? { type: "object" };
  return {
    id,
    version,
    name,
    description: options.description ?? "",
    industries: [...(options.industries ?? [])],
    capabilities: [],
    configSchema: typeof schema === "string" ? schema : JSON.stringify(schema),
    needs: {
      recentInteractions: options.recentInteractions ?? 0,
      population: options.population !== undefined,
      populationAttributes: [...(options.population ?? [])],
    },
    segments: [...(options.segments ?? [])],
  };
}

/** One reason behind a score. */
export function reason(code, message, contribution = 0) {
  return { code, message, contribution: Number(contribution) };
}

/** What a scorer returns. */
export function scoreOutput(score, { grade, reasons = [], actions = [] } = {}) {
  return { score: Number(score), grade, reasons, actions };
}

/** Membership in `segment` (an id from the manifest) for `reason`. */
export function membership(segment, why) {
  return { segment, reason: why };
}

function merge(defaults, given) {
  if (isObject(defaults) && isObject(given)) {
    const out = { ...defaults };
    for (const [key, value] of Object.entries(given)) {
      out[key] = key in defaults ? merge(defaults[key], value) : value;
    }
    return out;
  }
  return given;
}

function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The tenant's configuration merged over the plugin's defaults, checked by the plugin. */
export function parseConfig(plugin, text) {
  let given = {};
  if (text.trim() !== "") {
    try {
      given = JSON.parse(text);
    } catch (e) {
      throw new InvalidConfig(`invalid configuration: ${e.message}`);
    }
  }
  if (!isObject(given)) throw new InvalidConfig("invalid configuration: expected a JSON object");
  const config = merge(plugin.defaults ?? {}, given);
  plugin.checkConfig?.(config);
  return config;
}

/** The contract's `plugin-error` for an exception. */
export function pluginError(e) {
  if (e instanceof InvalidConfig) return { tag: "invalid-config", val: e.message };
  if (e instanceof InvalidInput) return { tag: "invalid-input", val: e.message };
  const name = e?.constructor?.name ?? "Error";
  return { tag: "internal", val: `${name}: ${e?.message ?? String(e)}` };
}

// The contract's 64-bit integer fields, by name (money's `amount`, timestamps, counts, seeds).
const INT64_FIELDS = new Set([
  "amount", "count", "createdAt", "dueAt", "expectedClose", "firstAt", "lastAt", "now",
  "occurredAt", "receivedAt", "seed",
]);

/** `value` with every 64-bit integer field as a BigInt. */
function widen(value, key) {
  if (typeof value === "number" && INT64_FIELDS.has(key)) return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => widen(v, key));
  if (isObject(value) && !ArrayBuffer.isView(value)) {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = widen(v, k);
    return out;
  }
  return value;
}

/** `value` with BigInts as Numbers, for an engine that passes 64-bit integers so. */
function narrow(value) {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(narrow);
  if (isObject(value) && !ArrayBuffer.isView(value)) {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = narrow(v);
    return out;
  }
  return value;
}

/** Runs a call on the plugin's view of `input` and converts its output for the engine. */
function guard(input, call) {
  // Every input has a timestamp: its type says how this engine passes 64-bit integers.
  const numbers = typeof input.now === "number" || typeof input.receivedAt === "number";
  try {
    const output = call(numbers ? widen(input) : input);
    return numbers ? narrow(output) : output;
  } catch (e) {
    throw pluginError(e);
  }
}

function manifestOf(plugin, capability) {
  const m = plugin.manifest;
  const capabilities = m.capabilities.includes(capability)
    ? [...m.capabilities]
    : [...m.capabilities, capability];
  return { ...m, capabilities };
}

function populateOf(plugin) {
  return (input) =>
    guard(input, (input) => {
      const config = parseConfig(plugin, input.config);
      return plugin.populate?.(config, input) ?? new Uint8Array(0);
    });
}

/** The exports of the `scorer` world for `plugin`. */
export function exportScorer(plugin) {
  return {
    manifest: () => manifestOf(plugin, "scorer"),
    populate: populateOf(plugin),
    score: (input) => guard(input, (i) => plugin.score(parseConfig(plugin, i.config), i)),
  };
}

/** The exports of the `segmenter` world for `plugin`. */
export function exportSegmenter(plugin) {
  return {
    manifest: () => manifestOf(plugin, "segmenter"),
    populate: populateOf(plugin),
    classify: (input) => guard(input, (i) => plugin.classify(parseConfig(plugin, i.config), i)),
  };
}

/** The exports of the `commerce-hook` world for `plugin`. */
export function exportCommerceHook(plugin) {
  return {
    manifest: () => manifestOf(plugin, "commerce-hook"),
    handle: (webhook, config) =>
      guard(webhook, (w) => plugin.handle(parseConfig(plugin, config), w)),
  };
}

// --- Helpers, as the Rust SDK's ---------------------------------------------------------------

const EXPONENT_0 = new Set(
  "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(" "),
);
const EXPONENT_3 = new Set("BHD IQD JOD KWD LYD OMR TND".split(" "));
const EXPONENT_4 = new Set(["CLF", "UYW"]);

/** Number of minor-unit digits of an ISO 4217 currency (2 unless listed as an exception). */
export function currencyExponent(currency) {
  if (EXPONENT_0.has(currency)) return 0;
  if (EXPONENT_3.has(currency)) return 3;
  if (EXPONENT_4.has(currency)) return 4;
  return 2;
}

/** Minor units (BigInt) as a decimal with the currency's exponent, e.g. `19.99 EUR`. */
export function formatMoney(amount, currency) {
  const exponent = currencyExponent(currency);
  const sign = amount < 0n ? "-" : "";
  const abs = amount < 0n ? -amount : amount;
  if (exponent === 0) return `${sign}${abs} ${currency}`;
  const scale = 10n ** BigInt(exponent);
  const fraction = (abs % scale).toString().padStart(exponent, "0");
  return `${sign}${abs / scale}.${fraction} ${currency}`;
}

/** The aggregate of interactions of `kind` ("purchase", ...), if the customer has any. */
export function aggregate(aggregates, kind) {
  return aggregates.find((a) => a.kind === kind);
}

const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/** The sum of an aggregate's amounts in `currency` (BigInt minor units, saturating at 64 bits
 * as the host's arithmetic does). */
export function totalIn(agg, currency) {
  let total = 0n;
  for (const m of agg.totals) if (m.currency === currency) total += m.amount;
  return total > I64_MAX ? I64_MAX : total < I64_MIN ? I64_MIN : total;
}

/** Whole days (BigInt) from `earlier` to `later` (BigInt microseconds), rounded down. */
export function daysBetween(earlier, later) {
  const d = later - earlier;
  const q = d / MICROS_PER_DAY;
  return d % MICROS_PER_DAY < 0n ? q - 1n : q;
}
