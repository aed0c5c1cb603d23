// The plugins page: the registry (upload a component), the tenant's plugins with their health,
// budgets and call statistics, enabling one through a form generated from its JSON Schema, the
// dry run as a before/after table, and a rescore's progress.

import { call, errorText, get, t, withQuery } from "./api.js";
import { fill, h, notice, num, progress, schemaForm, table, when } from "./dom.js";

const enc = encodeURIComponent;


const bytes = (n) => (n >= 1048576 ? `${num(n / 1048576, 1)} MiB` : `${num(n / 1024, 1)} KiB`);
const micros = (n) => (n >= 1000 ? `${num(n / 1000, 2)} ms` : `${num(n)} µs`);

/** Installed components, newest first, reading at most 10 pages of 100. */
async function registry() {
  const all = [];
  let cursor = null;
  for (let i = 0; i < 10; i++) {
    const page = await get(withQuery("/v1/plugins", { limit: 100, cursor }));
    all.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return all;
}

export async function pluginsPage({ tenant, me, go, signal }) {
  const [installed, enabled] = await Promise.all([registry(), get(withQuery(t(tenant, "/plugins"), { limit: 100 }))]);
  const statuses = await Promise.all((enabled.items || []).map((e) =>
    get(t(tenant, `/plugins/${enc(e.plugin)}`)).catch((x) => ({ error: x, enablement: e }))));
  const work = h("section", { "aria-live": "polite", id: "plugin-work", tabindex: "-1" });

  const tenantTable = table(`Plugins enabled for ${tenant}`, [
    ["Plugin", (s) => h("strong", {}, s.enablement.plugin)],
    ["Version", (s) => s.enablement.version],
    ["Kind", (s) => s.capability || "–"],
    ["Health", (s) => health(s)],
    ["Calls", (s) => (s.calls ? `${num(s.calls.calls)} (${num(s.calls.succeeded)} ok)` : "–")],
    ["Failures by cause", (s) => (s.calls && s.calls.failures.length ? h("ul", { class: "reasons" }, s.calls.failures.map(([code, n]) => h("li", {}, `${code}: ${num(n)}`))) : "none")],
    ["Fuel p50 / p99", (s) => (s.calls ? `${num(s.calls.fuel_p50)} / ${num(s.calls.fuel_p99)}` : "–")],
    ["Latency p50 / p99", (s) => (s.calls ? `${micros(s.calls.latency_micros_p50)} / ${micros(s.calls.latency_micros_p99)}` : "–")],
    ["Budget per call", (s) => (s.limits ? `${num(s.limits.fuel)} fuel, ${bytes(s.limits.memory_bytes)}, ${num(s.limits.deadline_ms)} ms` : "–")],
    ["Actions", (s) => h("div", { class: "toolbar" },
      h("button", { type: "button", class: "secondary", onclick: () => dryRun(s.enablement.plugin, s.enablement.version, null) }, `Dry run ${s.enablement.plugin}`),
      ["scorer", "segmenter"].includes(s.capability) ? h("button", { type: "button", class: "secondary", onclick: () => rescore(s.enablement.plugin) }, `Rescore ${s.enablement.plugin}`) : null,
      h("button", { type: "button", class: "secondary", onclick: () => configure(s.enablement.plugin, s.enablement.version, s.enablement.config, true) }, `Configure ${s.enablement.plugin}`))],
  ], statuses, "No plugin is enabled for this tenant: enable one from the registry below.");

  const latest = new Map();
  for (const p of installed) if (!latest.has(p.id)) latest.set(p.id, p);
  const registryTable = table("Installed components (the registry)", [
    ["Plugin", (p) => h("span", {}, h("strong", {}, p.id), " ", p.manifest && p.manifest.name ? `– ${p.manifest.name}` : "")],
    ["Version", (p) => p.version], ["Kind", (p) => p.capability],
    ["Industries", (p) => ((p.manifest && p.manifest.industries) || []).join(", ") || "–"],
    ["Size", (p) => bytes(p.size)], ["Installed", (p) => when(p.installed_at)],
    ["Actions", (p) => h("button", { type: "button", onclick: () => configure(p.id, p.version, {}, false) }, `Enable ${p.id} ${p.version}`)],
  ], installed, "No component is installed yet.");

  // Uploading a component is an admin's (the registry is shared by every tenant).
  const upload = me.kind === "admin" ? uploadForm(go) : h("p", { class: "empty" }, "An admin installs components; this token may enable the installed ones.");

  function schemaOf(id, version) {
    const p = installed.find((x) => x.id === id && x.version === version) || latest.get(id);
    return (p && p.manifest && p.manifest.config_schema) || {};
  }

  /** The configuration form for enabling (POST) or reconfiguring (PATCH) a plugin. */
  function configure(plugin, version, config, isEnabled) {
    const f = schemaForm(schemaOf(plugin, version), config || {}, `cfg-${plugin.replace(/[^A-Za-z0-9]/g, "-")}`);
    const result = h("div", { "aria-live": "assertive" });
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      fill(result);
      const body = f.read();
      try {
        if (isEnabled) await call("PATCH", t(tenant, `/plugins/${enc(plugin)}`), { body: { config: body } });
        else await call("POST", t(tenant, "/plugins"), { body: { plugin, version, config: body } });
        go(location.hash, `${plugin} ${isEnabled ? "reconfigured" : "enabled"}.`);
      } catch (x) {
        const rest = f.showErrors(x.problem);
        const fielded = x.problem && x.problem.errors && x.problem.errors.length > rest.length;
        fill(result, notice("error", fielded ? `The configuration was refused (${x.code}): see the fields marked above.${rest.length ? ` Also: ${rest.map((r) => `${r.field}: ${r.expected}`).join("; ")}` : ""}` : errorText(x)));
      }
    } },
    h("h2", {}, `${isEnabled ? "Configure" : "Enable"} ${plugin} ${version}`),
    f.form,
    h("div", { class: "toolbar" },
      h("button", { type: "submit" }, isEnabled ? "Save configuration" : "Enable"),
      h("button", { type: "button", class: "secondary", onclick: () => dryRun(plugin, version, f.read()) }, "Dry run with this configuration")),
    result);
    fill(work, form);
    work.focus();
  }

  /** A dry run: what the plugin would change for a sample of customers, nothing written. */
  async function dryRun(plugin, version, config) {
    const box = h("div", {}, h("p", { "aria-busy": "true" }, `Dry run of ${plugin}…`));
    if (!work.contains(box)) fill(work, box);
    try {
      const body = { version, sample: 10 };
      if (config) body.config = config;
      const r = (await call("POST", t(tenant, `/plugins/${enc(plugin)}/dry-run`), { body })).body;
      fill(box, h("h2", {}, `Dry run of ${r.plugin} ${r.version}: nothing was written`),
        table("Before and after, per customer", [
          ["Customer", (o) => h("a", { href: `#/t/${enc(tenant)}/customers/${enc(o.customer)}` }, o.customer)],
          ["Score before", (o) => (o.score ? num(o.score.before, 2) : "–")],
          ["Score after", (o) => (o.score ? delta(o.score.before, o.score.after) : "–")],
          ["Segments before", (o) => (o.segments ? o.segments.before.join(", ") || "none" : "–")],
          ["Segments after", (o) => (o.segments ? o.segments.after.map((m) => m.segment || m).join(", ") || "none" : "–")],
          ["Actions", (o) => num(o.actions.length)],
          ["Error", (o) => (o.error ? `${o.error.code || o.error.cause || "failed"}: ${o.error.message || o.error.detail || ""}` : "")],
        ], r.outcomes, "No customer to try it on."));
    } catch (x) {
      fill(box, notice("error", `Dry run failed: ${errorText(x)}`));
    }
    work.focus();
  }

  /** Starts a rescore and follows its job until it ends (polling once a second). */
  async function rescore(plugin) {
    const box = h("div", {}, h("h2", {}, `Rescore of ${plugin}`));
    fill(work, box);
    const bar = h("div", { role: "status" });
    box.append(bar);
    try {
      const job = (await call("POST", t(tenant, `/plugins/${enc(plugin)}/rescore`))).body;
      let j = job.job || job;
      while (!signal.aborted) {
        fill(bar, progress(`Rescoring ${plugin}`, j.done + j.failed, j.total),
          h("p", {}, `State: ${j.state}${j.failed ? `, ${num(j.failed)} failed` : ""}`));
        if (!["queued", "running"].includes(j.state)) break;
        await new Promise((r) => setTimeout(r, 500));
        j = await get(t(tenant, `/jobs/${enc(j.id)}`));
      }
      if (j.state === "done") box.append(notice("ok", `Rescore finished: ${num(j.done)} customers${j.failed ? `, ${num(j.failed)} failed` : ""}.`));
      else if (!signal.aborted) box.append(notice("error", `Rescore ended: ${j.state}${j.error ? ` – ${j.error}` : ""}.`));
    } catch (x) {
      box.append(notice("error", errorText(x)));
    }
  }

  return [h("h1", {}, `Plugins of ${tenant}`), tenantTable, work,
    h("h2", {}, "Registry"), registryTable, h("h2", {}, "Install a component"), upload];
}

function health(s) {
  if (s.error) return h("span", { class: "badge bad" }, errorText(s.error));
  const hl = s.health || {};
  if (s.suspended) return h("span", { class: "badge bad" }, `suspended${hl.suspended_until ? ` until ${when(hl.suspended_until)}` : ""}`);
  if (hl.consecutive_failures) {
    const last = hl.last_error ? `; last: ${hl.last_error.code}` : "";
    return h("span", { class: "badge warn" }, `${num(hl.consecutive_failures)} failures in a row${last}`);
  }
  return h("span", { class: "badge ok" }, "healthy");
}

function delta(before, after) {
  if (before === null || before === undefined) return h("span", {}, num(after, 2), " (new)");
  const d = after - before;
  if (Math.abs(d) < 1e-9) return h("span", {}, num(after, 2), " (same)");
  return h("span", { class: d > 0 ? "delta-up" : "delta-down" }, `${num(after, 2)} (${d > 0 ? "+" : ""}${num(d, 2)})`);
}

function uploadForm(go) {
  const file = h("input", { id: "component", type: "file", accept: ".wasm,application/wasm", required: true });
  const result = h("div", { "aria-live": "polite" });
  return h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) return;
    fill(result, h("p", { "aria-busy": "true" }, `Uploading ${f.name} (${bytes(f.size)})…`));
    try {
      // The server compiles a new component in the background; wait for its install job.
      const r = await call("POST", "/v1/plugins?wait=30", { body: await f.arrayBuffer(), contentType: "application/wasm" });
      let job = r.body;
      while (r.status === 202 && job.state === "compiling") {
        job = await get(`/v1/plugins/installs/${enc(job.hash)}?wait=30`);
      }
      if (job.state === "failed") fill(result, notice("error", `Install failed: ${job.error ? `${job.error.detail} (${job.error.code})` : "unknown error"}`));
      else go(location.hash, `Installed ${f.name}.`);
    } catch (x) {
      fill(result, notice("error", errorText(x)));
    }
  } }, h("label", { for: "component" }, "Component (.wasm)", file), h("button", { type: "submit" }, "Upload"), result);
}
