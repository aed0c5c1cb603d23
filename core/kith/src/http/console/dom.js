// Building the page: every value goes in as a text node or an attribute value, never as HTML.

/** An element with attributes (`on*` keys become listeners) and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  setup(e, attrs, children);
  return e;
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element, the same way. */
export function s(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  setup(e, attrs, children);
  return e;
}

function setup(e, attrs, children) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = String(v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(e, ...children) {
  e.replaceChildren();
  setup(e, {}, children);
  return e;
}

/** A number as people read it here. */
export function num(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return Number(n).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** An amount of money ({minor, currency}) in its currency. */
export function money(m) {
  if (!m) return "–";
  const digits = ["JPY", "KRW"].includes(m.currency) ? 0 : 2;
  const v = m.minor / 10 ** digits;
  try {
    return v.toLocaleString("en", { style: "currency", currency: m.currency });
  } catch {
    return `${num(v, 2)} ${m.currency}`;
  }
}

/** A timestamp (RFC 3339 text or microseconds) as a short local date and time. */
export function when(t) {
  if (t === null || t === undefined || t === "") return "–";
  const d = typeof t === "number" ? new Date(t / 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/** A table: `columns` are [heading, (row) => cell] pairs; `caption` names it for screen readers. */
export function table(caption, columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map(([name]) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(r)))))));
}

/** A horizontal bar chart of [label, value] pairs, with the figures also given as text. */
export function bars(title, pairs, unit = "") {
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  const rowH = 26, labelW = 240, width = 700, barW = width - labelW - 90;
  const height = pairs.length * rowH + 8;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img",
    "aria-label": `${title}: ${pairs.map(([l, v]) => `${l} ${num(v)}${unit}`).join(", ")}`, class: "chart" },
  pairs.map(([label, value], i) => {
    const y = i * rowH + 4;
    const w = Math.max(1, Math.round((value / max) * barW));
    return s("g", {},
      s("text", { x: labelW - 8, y: y + 16, "text-anchor": "end", class: "label" }, clip(label, 32)),
      s("rect", { x: labelW, y, width: w, height: rowH - 8, rx: 3, class: "bar" }),
      s("text", { x: labelW + w + 6, y: y + 16, class: "value" }, `${num(value)}${unit}`));
  }));
  return h("figure", {}, h("figcaption", {}, title), svg);
}

/** A histogram of `values` in `bins` equal buckets between their minimum and maximum. */
export function histogram(title, values, bins = 20) {
  if (!values.length) return h("p", { class: "empty" }, `${title}: no scores yet.`);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
  const max = Math.max(...counts), width = 640, height = 180, pad = 24;
  const bw = (width - 2 * pad) / bins;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height + 30}`, width: "100%", role: "img", class: "chart",
    "aria-label": `${title}: ${values.length} scores from ${num(lo, 2)} to ${num(hi, 2)}` },
  counts.map((c, i) => {
    const bh = max ? Math.round((c / max) * height) : 0;
    return s("rect", { x: pad + i * bw + 1, y: height - bh + 4, width: Math.max(1, bw - 2), height: bh, class: "bar" },
      s("title", {}, `${num(lo + (i * (hi - lo)) / bins, 2)} – ${num(lo + ((i + 1) * (hi - lo)) / bins, 2)}: ${c}`));
  }),
  s("text", { x: pad, y: height + 24, class: "label" }, num(lo, 2)),
  s("text", { x: width - pad, y: height + 24, "text-anchor": "end", class: "label" }, num(hi, 2)));
  return h("figure", {}, h("figcaption", {}, `${title} (${values.length} customers)`), svg);
}

/** A progress bar with its figure as text. */
export function progress(label, done, total) {
  const pct = total ? Math.min(100, Math.round((done / total) * 100)) : 0;
  return h("div", { class: "progress" },
    h("label", {}, label, " ", h("progress", { max: total || 1, value: done, "aria-valuetext": `${pct}%` })),
    h("span", {}, ` ${num(done)} of ${num(total)} (${pct}%)`));
}

function clip(t, n) {
  const str = String(t);
  return str.length > n ? `${str.slice(0, n - 1)}…` : str;
}

/** A status message in a live region, so that screen readers announce it. */
export function notice(kind, text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/**
 * A form for a JSON Schema object: one control per property (text, number, checkbox, select for
 * enums, a JSON text area for nested objects and arrays), each with its label, the schema's
 * description as help, and a slot for the server's error at that JSON path (`/prop`).
 * Returns {form, read(), showErrors(problem)}.
 */
export function schemaForm(schema, values = {}, idPrefix = "cfg") {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const controls = [];
  const fields = Object.entries(props).map(([name, p]) => {
    const id = `${idPrefix}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const type = Array.isArray(p.type) ? p.type.find((t) => t !== "null") : p.type;
    const current = values[name] !== undefined ? values[name] : p.default;
    let input;
    if (p.enum) {
      input = h("select", { id, name }, p.enum.map((v) => h("option", { value: JSON.stringify(v), selected: JSON.stringify(v) === JSON.stringify(current) }, String(v))));
    } else if (type === "boolean") {
      input = h("input", { id, name, type: "checkbox", checked: current === true });
    } else if (type === "integer" || type === "number") {
      input = h("input", { id, name, type: "text", inputmode: "decimal", value: current ?? "" });
    } else if (type === "string") {
      input = h("input", { id, name, type: "text", value: current ?? "" });
    } else {
      input = h("textarea", { id, name, rows: 3, spellcheck: "false" }, current === undefined ? "" : JSON.stringify(current, null, 1));
    }
    const err = h("span", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
    input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
    controls.push({ name, type, input, err, p });
    return h("div", { class: "field" },
      h("label", { for: id }, name, required.has(name) ? " (required)" : ""),
      input,
      h("small", { id: `${id}-help` }, `${p.description || ""}${type ? ` (${[type, ...bounds(p)].join(", ")})` : ""}`),
      err);
  });
  const form = h("div", { class: "schema-form" }, fields.length ? fields : h("p", { class: "empty" }, "This plugin takes no configuration."));
  function read() {
    const out = {};
    for (const c of controls) {
      const raw = c.input.type === "checkbox" ? c.input.checked : c.input.value;
      if (c.p.enum) out[c.name] = JSON.parse(raw);
      else if (c.type === "boolean") out[c.name] = raw;
      else if (c.type === "integer" || c.type === "number") {
        if (raw.trim() === "") continue;
        const n = Number(raw);
        out[c.name] = Number.isNaN(n) ? raw : n; // the server names what it expected
      } else if (c.type === "string") {
        if (raw === "" && !required.has(c.name)) continue;
        out[c.name] = raw;
      } else if (raw.trim() !== "") {
        try { out[c.name] = JSON.parse(raw); } catch { out[c.name] = raw; }
      }
    }
    return out;
  }
  return { form, read, showErrors: (problem) => showFieldErrors(problem, controls.map((c) => [c.name, c.input, c.err])) };
}

/** A number property's bounds as text: "≥ 0", "< 1". */
function bounds(p) {
  return [["minimum", "≥"], ["exclusiveMinimum", ">"], ["maximum", "≤"], ["exclusiveMaximum", "<"]]
    .filter(([k]) => typeof p[k] === "number").map(([k, sign]) => `${sign} ${p[k]}`);
}

/**
 * Puts each error of a problem+json answer next to its field: `errors[].field` is a JSON path
 * (`/max_days`, `config/max_days`, `email`); the first path segment that names a field wins.
 * Returns the errors no field took.
 */
export function showFieldErrors(problem, fields) {
  for (const [, input, err] of fields) {
    err.textContent = "";
    input.removeAttribute("aria-invalid");
  }
  const rest = [];
  for (const e of (problem && problem.errors) || []) {
    const path = String(e.field || "").split(/[/.]/).filter((x) => x && x !== "config" && x !== "body");
    const hit = fields.find(([name]) => path[0] === name);
    if (hit) {
      hit[2].textContent = `${e.field}: ${e.expected}`;
      hit[1].setAttribute("aria-invalid", "true");
    } else rest.push(e);
  }
  return rest;
}
