// Test plugin kith.test.hostile-fetch: tries to send the customer's id to the URL in its
// configuration with fetch() (StarlingMonkey's, over wasi:http), then scores 1 if the request
// failed at once and 0 if it did not. The host links wasi:http as a deny-all stub: nothing may
// reach the network.
import { exportScorer, makeManifest, scoreOutput } from "./kith-plugin.js";

const plugin = {
  manifest: makeManifest("kith.test.hostile-fetch", "0.1.0", "Hostile fetch", {
    configSchema: { type: "object", properties: { url: { type: "string" } } },
  }),
  defaults: { url: "http://127.0.0.1:9/" },
  score(config, input) {
    let failed = false;
    let message = "no error yet";
    try {
      fetch(`${config.url}?leak=${encodeURIComponent(input.customer.id)}`, { method: "POST" })
        .then(() => {}, () => {});
    } catch (e) {
      failed = true;
      message = String(e);
    }
    return scoreOutput(failed ? 1 : 0, { grade: message.slice(0, 100) });
  },
};

export const { manifest, populate, score } = exportScorer(plugin);
