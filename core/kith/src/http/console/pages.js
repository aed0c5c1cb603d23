// The console's pages: tenants, customers, a customer, pipelines, segments and scores, events.
// Each page is a function of {me, tenant, parts, query, signal, go} that returns its content.

import { call, errorText, get, stream, t, withQuery } from "./api.js";
import { bars, fill, h, histogram, money, notice, num, showFieldErrors, table, when } from "./dom.js";

const PAGE_SIZE = 50;
const enc = encodeURIComponent;
const tenantHash = (tenant, rest) => `#/t/${enc(tenant)}${rest}`;


/**
 * A list that pages through the API with its cursor (never loading everything at once): `load`
 * fetches one page for a cursor and returns {items, next_cursor}; `render` draws the items.
 * Resolves once the first page is drawn.
 */
async function pagedList(load, render) {
  const box = h("div", { "aria-live": "polite" });
  const history = [];
  let cursor = null;
  const prev = h("button", { type: "button", class: "secondary", disabled: true, onclick: () => { cursor = history.pop() ?? null; show(); } }, "← Previous");
  const next = h("button", { type: "button", class: "secondary", disabled: true }, "Next →");
  const where = h("span", {});
  let nextCursor = null;
  next.addEventListener("click", () => { history.push(cursor); cursor = nextCursor; show(); });
  async function show() {
    prev.disabled = next.disabled = true;
    try {
      const page = await load(cursor);
      nextCursor = page.next_cursor || null;
      fill(box, render(page.items, page));
      fill(where, `Page ${history.length + 1}`);
      prev.disabled = history.length === 0;
      next.disabled = !nextCursor;
    } catch (x) {
      fill(box, notice("error", errorText(x)));
    }
  }
  await show();
  return h("div", {}, box, h("div", { class: "pager", role: "navigation", "aria-label": "Pages" }, prev, where, next));
}

// ---------------------------------------------------------------------------------------------
// Tenants (admin)

export async function tenantsPage({ go }) {
  const list = await pagedList((cursor) => get(withQuery("/v1/tenants", { limit: PAGE_SIZE, cursor })), (items) =>
    table("Tenants", [
      ["Slug", (r) => h("a", { href: tenantHash(r.slug, "/customers") }, r.slug)],
      ["Name", (r) => r.name || "–"],
      ["Created", (r) => when(r.created_at)],
      ["Keys", (r) => h("button", { type: "button", class: "secondary", onclick: () => showKeys(r.slug) }, `Keys of ${r.slug}`)],
    ], items, "No tenants yet: create one below."));
  const keysBox = h("section", { "aria-label": "Keys" });
  const slug = h("input", { id: "new-slug", required: true, "aria-describedby": "new-slug-error" });
  const name = h("input", { id: "new-name" });
  const slugErr = h("span", { class: "field-error", id: "new-slug-error" });
  const nameErr = h("span", { class: "field-error" });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    fill(result);
    try {
      await call("POST", "/v1/tenants", { body: { slug: slug.value.trim(), name: name.value.trim() || undefined } });
      go("#/tenants", `Tenant ${slug.value.trim()} created.`);
    } catch (x) {
      const rest = showFieldErrors(x.problem, [["slug", slug, slugErr], ["name", name, nameErr]]);
      if (rest.length || !(x.problem && x.problem.errors)) fill(result, notice("error", errorText(x)));
    }
  } },
  h("label", { for: "new-slug" }, "Slug", slug, slugErr),
  h("label", { for: "new-name" }, "Name", name, nameErr),
  h("button", { type: "submit" }, "Create tenant"));

  async function showKeys(tenant) {
    const mine = [];
    let cursor = null;
    // Tokens are few (an admin's list); read at most 10 pages of them.
    for (let i = 0; i < 10; i++) {
      const page = await get(withQuery("/v1/tokens", { limit: 100, cursor }));
      mine.push(...page.items.filter((k) => k.tenant === tenant));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    const secret = h("div", { "aria-live": "polite" });
    fill(keysBox, h("h2", {}, `Keys of ${tenant}`),
      table(`API keys of ${tenant}`, [
        ["Id", (k) => k.id], ["Kind", (k) => k.kind], ["Name", (k) => k.name || "–"],
        ["Read-only", (k) => (k.read_only ? "yes" : "no")], ["Created", (k) => when(k.created_at)],
        ["Actions", (k) => h("button", { type: "button", class: "secondary", onclick: async () => {
          if (!confirm(`Revoke key ${k.id}? Clients using it stop working at once.`)) return;
          await call("DELETE", `/v1/tokens/${enc(k.id)}`);
          showKeys(tenant);
        } }, `Revoke ${k.id}`)],
      ], mine, "No keys for this tenant."),
      h("button", { type: "button", onclick: async () => {
        const r = await call("POST", "/v1/tokens", { body: { kind: "tenant", tenant, name: "console" } });
        await showKeys(tenant);
        keysBox.append(notice("ok", "New key (shown once, copy it now):"), h("p", { class: "secret" }, r.body.token));
      } }, "New tenant key"), secret);
    keysBox.focus();
  }
  return [h("h1", {}, "Tenants"), list, h("h2", {}, "New tenant"), form, result, keysBox];
}

// ---------------------------------------------------------------------------------------------
// Customers

const FILTERS = [
  ["q", "Text", "Name, email, phone or external id contains"],
  ["name_prefix", "Name starts with", ""],
  ["email", "Email", "Exact email"],
  ["tag", "Tag", ""],
  ["lifecycle", "Lifecycle", "lead, customer, …"],
  ["segment", "Segment", "plugin/segment, e.g. kith.rfm-segments/champions"],
  ["score", "Scored by", "A scorer, e.g. kith.rfm (highest first)"],
];

export async function customersPage({ tenant, query, go }) {
  const inputs = FILTERS.map(([key, label, help]) => {
    const id = `f-${key}`;
    const input = h("input", { id, name: key, value: query.get(key) || "", placeholder: help || null, type: key === "q" ? "search" : "text" });
    return [key, h("label", { for: id }, label, input), input];
  });
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [key, , input] of inputs) if (input.value.trim()) q.set(key, input.value.trim());
    go(`${tenantHash(tenant, "/customers")}${q.toString() ? `?${q}` : ""}`);
  } }, inputs.map(([, label]) => label), h("button", { type: "submit" }, "Search"));
  const params = { limit: PAGE_SIZE };
  for (const [key] of FILTERS) if (query.get(key)) params[key] = query.get(key);
  const list = await pagedList((cursor) => get(withQuery(t(tenant, "/customers"), { ...params, cursor })), (items) =>
    table("Customers", [
      ["Name", (c) => h("a", { href: tenantHash(tenant, `/customers/${enc(c.id)}`) }, c.name || c.id)],
      ["Kind", (c) => c.kind],
      ["Email", (c) => c.email || "–"],
      ["Lifecycle", (c) => c.lifecycle],
      ["Tags", (c) => (c.tags || []).join(", ")],
      params.score ? ["Score", (c) => num(c.score && c.score.score, 2)] : ["Updated", (c) => when(c.updated_at)],
    ], items, "No customer matches."));
  return [h("h1", {}, `Customers of ${tenant}`), form, list];
}

const EDITABLE = [
  ["name", "Display name"], ["first_name", "First name"], ["last_name", "Last name"],
  ["email", "Email"], ["phone", "Phone"], ["lifecycle", "Lifecycle stage"], ["owner", "Owner (user id)"],
];

export async function customerPage({ tenant, parts, go }) {
  const id = decodeURIComponent(parts[3]);
  const path = t(tenant, `/customers/${enc(id)}`);
  const got = await call("GET", path);
  const c = got.body;
  let etag = got.etag;
  const [insights, deals] = await Promise.all([
    get(`${path}/scores`).catch((x) => ({ error: x })),
    get(withQuery(t(tenant, "/deals"), { customer: id, limit: 50 })).catch((x) => ({ error: x })),
  ]);

  const profile = h("dl", { class: "props" },
    [["Id", c.id], ["Kind", c.kind], ["Email", c.email], ["Phone", c.phone], ["Lifecycle", c.lifecycle],
      ["Owner", c.owner], ["Tags", (c.tags || []).join(", ")], ["Marketing consent", c.marketing_consent ? "yes" : "no"],
      ["Location", [c.location && c.location.city, c.location && c.location.country].filter(Boolean).join(", ")],
      ["Created", when(c.created_at)], ["Updated", when(c.updated_at)], ["Version", c.version]]
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "–" : String(v))]));

  // Edit: each field with its error slot; the API's errors land next to their field.
  const fields = EDITABLE.map(([key, label]) => {
    const input = h("input", { id: `edit-${key}`, name: key, value: c[key] ?? "", "aria-describedby": `edit-${key}-error` });
    const err = h("span", { class: "field-error", id: `edit-${key}-error` });
    return [key, input, err, h("div", { class: "field" }, h("label", { for: `edit-${key}` }, label), input, err)];
  });
  const editResult = h("div", { "aria-live": "polite" });
  const edit = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const patch = {};
    for (const [key, input] of fields) {
      const before = c[key] ?? "";
      if (input.value !== String(before)) patch[key] = input.value === "" ? null : input.value;
    }
    if (!Object.keys(patch).length) { fill(editResult, notice("warn", "Nothing changed.")); return; }
    try {
      const r = await call("PATCH", path, { body: patch, headers: etag ? { "If-Match": etag } : {} });
      etag = r.etag;
      go(location.hash, "Saved.");
    } catch (x) {
      const rest = showFieldErrors(x.problem, fields.map(([k, i, er]) => [k, i, er]));
      if (x.status === 412) fill(editResult, notice("error", "Someone changed this customer since you opened it: reload to see their change, then edit again."));
      else if (rest.length || !(x.problem && x.problem.errors)) fill(editResult, notice("error", errorText(x)));
      else fill(editResult, notice("error", "Fix the fields marked above."));
    }
  } }, fields.map((f) => f[3]), h("button", { type: "submit" }, "Save changes"), editResult);

  const scores = insights.error ? notice("error", errorText(insights.error)) : table("Scores and their reasons", [
    ["Scorer", (s) => s.producer.plugin],
    ["Score", (s) => h("strong", {}, num(s.score, 2))],
    ["Grade", (s) => s.grade || "–"],
    ["Why", (s) => h("ul", { class: "reasons" }, (s.reasons || []).map((r) => h("li", {}, reasonText(r))))],
    ["Computed", (s) => when(s.computed_at)],
  ], insights.scores || [], "No scorer has scored this customer yet.");
  const segments = insights.error ? null : table("Segments", [
    ["Segmenter", (g) => g.producer.plugin],
    ["Segments", (g) => h("ul", { class: "reasons" }, g.memberships.map((m) => h("li", {}, `${m.segment}${m.reason ? `: ${m.reason}` : ""}`)))],
  ], insights.segments || [], "In no segment yet.");
  const dealList = deals.error ? notice("error", errorText(deals.error)) : table("Deals", [
    ["Title", (d) => d.title], ["Amount", (d) => money(d.amount)], ["Stage", (d) => d.stage],
    ["Expected close", (d) => d.expected_close || "–"], ["Updated", (d) => when(d.updated_at)],
  ], deals.items || [], "No deals.");
  const timeline = await pagedList((cursor) => get(withQuery(`${path}/timeline`, { limit: 20, cursor })), (items) =>
    table("Timeline", [
      ["When", (i) => when(i.occurred_at || i.at)],
      ["Kind", (i) => i.kind],
      ["Summary", (i) => i.summary || i.subject || i.title || ""],
      ["Amount", (i) => (i.amount ? money(i.amount) : "–")],
    ], items, "No interactions yet."));

  return [
    h("p", {}, h("a", { href: tenantHash(tenant, "/customers") }, "← Customers")),
    h("h1", {}, c.name || c.id),
    h("div", { class: "cards" }, h("section", { class: "card", "aria-labelledby": "profile-h" }, h("h2", { id: "profile-h" }, "Profile"), profile),
      h("section", { class: "card", "aria-labelledby": "edit-h" }, h("h2", { id: "edit-h" }, "Edit"), edit)),
    h("h2", {}, "Scores"), scores,
    h("h2", {}, "Segments"), segments,
    h("h2", {}, "Deals"), dealList,
    h("h2", {}, "Timeline"), timeline,
  ];
}

/** A score reason: what the plugin said, its code, and what it added to the score. */
function reasonText(r) {
  const sign = r.contribution >= 0 ? "+" : "";
  return `${r.message} (${r.code}, ${sign}${num(r.contribution, 2)})`;
}

// ---------------------------------------------------------------------------------------------
// Pipelines: the board, the funnel, the forecast

/** Most deals the board shows at once (the rest are a search away). */
const BOARD_LIMIT = 500;

export async function pipelinePage({ tenant, parts, go, signal }) {
  const pipelines = (await get(withQuery(t(tenant, "/pipelines"), { limit: 100 }))).items;
  if (!pipelines.length) return [h("h1", {}, "Pipelines"), h("p", { class: "empty" }, "This tenant has no pipeline yet.")];
  const id = parts[3] ? decodeURIComponent(parts[3]) : pipelines[0].id;
  const p = pipelines.find((x) => x.id === id) || (await get(t(tenant, `/pipelines/${enc(id)}`)));
  const picker = h("nav", { class: "toolbar", "aria-label": "Pipelines" },
    pipelines.map((x) => h("a", { href: tenantHash(tenant, `/pipelines/${enc(x.id)}`), "aria-current": x.id === p.id ? "page" : null }, x.name)));
  const status = h("div", { "aria-live": "assertive" });
  const board = h("div", { class: "board" });
  const deals = new Map();
  let truncated = false;
  async function loadDeals() {
    deals.clear();
    let cursor = null;
    while (deals.size < BOARD_LIMIT) {
      const page = await get(withQuery(t(tenant, `/pipelines/${enc(p.id)}/deals`), { limit: 200, cursor }), { signal });
      for (const d of page.items) deals.set(d.id, d);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    truncated = Boolean(cursor);
  }
  async function move(dealId, stage) {
    const d = deals.get(dealId);
    if (!d || d.stage === stage) return;
    try {
      // The deal's version as this board saw it: if someone moved it since, the server says 412.
      await call("POST", t(tenant, `/deals/${enc(dealId)}/move`), { body: { stage }, headers: { "If-Match": `"${d.version}"` } });
      fill(status, notice("ok", `Moved “${d.title}” to ${stageName(stage)}.`));
    } catch (x) {
      if (x.status === 412) {
        fill(status, notice("error", `Conflict: “${d.title}” was changed by someone else since this board loaded (${x.code}). The board now shows where it is; move it again if you still want to.`));
      } else fill(status, notice("error", errorText(x)));
    }
    await loadDeals();
    drawBoard();
    report();
  }
  const stageName = (sid) => (p.stages.find((s) => s.id === sid) || { name: sid }).name;
  function drawBoard() {
    fill(board, p.stages.map((stage) => {
      const mine = [...deals.values()].filter((d) => d.stage === stage.id);
      const total = mine.reduce((a, d) => a + d.amount.minor, 0);
      const col = h("section", { class: "column", "aria-label": `${stage.name}: ${mine.length} deals`, "data-stage": stage.id },
        h("h3", {}, `${stage.name} · ${mine.length}`, h("div", { class: "meta" }, `${stage.probability}% · ${mine.length ? money({ minor: total, currency: mine[0].amount.currency }) : "–"}`)),
        h("ul", {}, mine.map((d) => h("li", { class: "deal", draggable: "true", "data-deal": d.id,
          ondragstart: (e) => { e.dataTransfer.setData("text/plain", d.id); e.dataTransfer.effectAllowed = "move"; } },
        h("div", {}, d.title),
        h("div", { class: "meta" }, money(d.amount)),
        h("label", { class: "meta", for: `move-${d.id}` }, "Move to"),
        h("select", { id: `move-${d.id}`, "data-move": d.id, onchange: (e) => move(d.id, e.target.value) },
          p.stages.map((s) => h("option", { value: s.id, selected: s.id === d.stage }, s.name)))))));
      col.addEventListener("dragover", (e) => { e.preventDefault(); col.classList.add("over"); });
      col.addEventListener("dragleave", () => col.classList.remove("over"));
      col.addEventListener("drop", (e) => { e.preventDefault(); col.classList.remove("over"); move(e.dataTransfer.getData("text/plain"), stage.id); });
      return col;
    }));
    if (truncated) board.append(notice("warn", `Showing the first ${BOARD_LIMIT} deals of this pipeline.`));
  }
  const reports = h("div", {});
  async function report() {
    try {
      fill(reports, reportView(await get(t(tenant, `/pipelines/${enc(p.id)}/report`))));
    } catch (x) {
      fill(reports, notice("error", errorText(x)));
    }
  }
  await loadDeals();
  drawBoard();
  await report();
  return [h("h1", {}, `Pipeline: ${p.name}`), picker,
    h("h2", {}, "Board"),
    h("p", { class: "empty" }, "Drag a deal to another stage, or choose its stage from the list on its card."),
    status, board, reports];
}

/** Amounts per currency ([{minor, currency}]) as text. */
const moneys = (list) => (list && list.length ? list.map(money).join(" + ") : "–");

/** The funnel (deals that entered each stage, conversion to the next) and the weighted forecast. */
function reportView(r) {
  const open = r.stages.filter((s) => s.category === "open");
  const weighted = new Map();
  for (const s of open) for (const m of s.weighted_amount) weighted.set(m.currency, (weighted.get(m.currency) || 0) + m.minor);
  return h("div", {},
    h("h2", {}, "Funnel"),
    bars("Deals that entered each stage", r.stages.map((s) => [s.name, s.entered])),
    table("Conversion between stages", [
      ["Stage", (s) => s.name], ["Entered", (s) => num(s.entered)],
      ["Went on to the next stage", (s) => (s.conversion_to_next === null || s.conversion_to_next === undefined ? "–" : `${num(s.conversion_to_next * 100, 1)}%`)],
      ["Median time in stage", (s) => (s.median_seconds_in_stage ? `${num(s.median_seconds_in_stage / 86400, 1)} days` : "–")],
    ], r.stages),
    h("h2", {}, "Weighted forecast"),
    table("Open deals by stage, weighted by the stage's probability", [
      ["Stage", (s) => s.name], ["Probability", (s) => `${s.probability}%`], ["Open deals", (s) => num(s.deals)],
      ["Amount", (s) => moneys(s.amount)], ["Weighted", (s) => moneys(s.weighted_amount)],
    ], open),
    h("p", {}, "Weighted total: ", h("strong", {}, moneys([...weighted].map(([currency, minor]) => ({ currency, minor }))))));
}

// ---------------------------------------------------------------------------------------------
// Segments and scores

/** Most scores read for one histogram (pages of 1,000, highest first). */
const HISTOGRAM_LIMIT = 5000;

export async function segmentsPage({ tenant, signal }) {
  const list = (await get(withQuery(t(tenant, "/segments"), { limit: 1000 }))).items;
  const bySegmenter = new Map();
  for (const s of list) {
    if (!bySegmenter.has(s.plugin)) bySegmenter.set(s.plugin, []);
    bySegmenter.get(s.plugin).push(s);
  }
  const charts = [...bySegmenter].map(([plugin, ss]) => h("section", {},
    bars(`Members of ${plugin}'s segments`, ss.map((s) => [s.name || s.segment, s.members])),
    table(`${plugin}'s segments`, [
      ["Segment", (s) => h("a", { href: tenantHash(tenant, `/customers?segment=${enc(`${s.plugin}/${s.segment}`)}`) }, s.name || s.segment)],
      ["Members", (s) => num(s.members)], ["What it means", (s) => s.description || ""],
    ], ss)));
  // The tenant's plugins, and which of them score (the catalogue says what each version is).
  const [enabled, catalogue] = await Promise.all([
    get(withQuery(t(tenant, "/plugins"), { limit: 1000 })),
    get(withQuery("/v1/plugins", { limit: 1000 })),
  ]);
  const scoring = new Set(catalogue.items.filter((p) => p.capability === "scorer").map((p) => p.hash));
  const scorers = enabled.items.filter((e) => scoring.has(e.hash));
  const histos = h("div", {});
  for (const s of scorers) {
    const values = [];
    let cursor = null;
    while (values.length < HISTOGRAM_LIMIT) {
      const page = await get(withQuery(t(tenant, `/scores/${enc(s.plugin)}`), { limit: 1000, cursor }), { signal });
      for (const r of page.items) values.push(r.score);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    histos.append(histogram(`Scores of ${s.plugin}${cursor ? ` (the highest ${num(values.length)})` : ""}`, values.filter((v) => typeof v === "number")));
  }
  return [h("h1", {}, "Segments and scores"),
    charts.length ? charts : h("p", { class: "empty" }, "No segmenter is enabled."),
    h("h2", {}, "Score distributions"), scorers.length ? histos : h("p", { class: "empty" }, "No scorer is enabled.")];
}

// ---------------------------------------------------------------------------------------------
// Events: a live feed

/** Most events kept on the page; older ones drop off the bottom. */
const FEED_LIMIT = 200;

export async function eventsPage({ tenant, signal }) {
  const feed = h("ol", { class: "feed", tabindex: "0", "aria-label": "Events, newest first", "aria-live": "polite", "aria-relevant": "additions" });
  const state = h("p", { role: "status" }, "Connecting…");
  const add = (e) => {
    let d;
    try { d = JSON.parse(e.data); } catch { return; }
    const entity = typeof d.entity === "object" && d.entity
      ? Object.entries(d.entity).map(([k, v]) => `${k} ${v}`).join(", ")
      : String(d.entity || "");
    const changed = (d.changed || []).length ? ` (${d.changed.join(", ")})` : "";
    feed.prepend(h("li", {}, `#${d.seq} · ${when(d.at)} · ${d.kind} · ${entity}${changed} · by ${d.actor}`));
    while (feed.childElementCount > FEED_LIMIT) feed.lastElementChild.remove();
  };
  (async () => {
    // Reconnects after a dropped stream from the last event seen, backing off to 30 s.
    let after = null, delay = 1000;
    while (!signal.aborted) {
      try {
        fill(state, "Live: new events appear at the top.");
        // The last 20 events first, then what comes; after a drop, from the last one seen.
        const from = after === null ? { tail: 20 } : { after };
        await stream(withQuery(t(tenant, "/events"), { ...from, limit: 100 }), (e) => { after = e.id || after; delay = 1000; add(e); }, signal);
      } catch (x) {
        if (signal.aborted) return;
        fill(state, `Disconnected (${errorText(x)}); retrying…`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(30000, delay * 2);
    }
  })();
  return [h("h1", {}, "Events"), state, feed];
}
