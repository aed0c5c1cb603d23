// {{name}}: a Kith scorer written in JavaScript.
//
// Scores a customer from their purchases: 10 points per purchase, up to `max_points`. Replace
// `score` with your own logic; `populate` can learn from all of a tenant's customers first (see
// kith-plugin.js).

import { aggregate, exportScorer, makeManifest, reason, scoreOutput } from "./kith-plugin.js";

const CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  properties: {
    max_points: { type: "number", minimum: 0, default: 100 },
  },
};

export const plugin = {
  manifest: makeManifest("{{id}}", "0.1.0", "{{name}}", {
    description: "Scores customers by how often they bought (10 points a purchase).",
    configSchema: CONFIG_SCHEMA,
  }),
  defaults: { max_points: 100 },

  score(config, input) {
    const purchases = aggregate(input.customer.aggregates, "purchase");
    const count = purchases ? Number(purchases.count) : 0;
    const points = Math.min(10 * count, config.max_points);
    return scoreOutput(points, {
      grade: points >= 50 ? "A" : "B",
      reasons: [reason("purchases", `${count} purchases`, points)],
    });
  },
};

export const { manifest, populate, score } = exportScorer(plugin);
