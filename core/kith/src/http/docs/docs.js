// The API reference: renders /v1/openapi.json (operations by tag, parameters, request and
// response schemas) and sends "Try it" requests with the token typed on this page. Every value
// from the document or a response is put in the page as text (never as HTML).

const METHODS = ["get", "post", "put", "patch", "delete"];
const MAX_DEPTH = 6;

let doc = null;
let ops = [];

/** Creates an element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

/** The schema a `$ref` points at (only local references). */
function resolve(schema) {
  let s = schema;
  for (let i = 0; s && s.$ref && i < 20; i++) {
    const path = s.$ref.replace(/^#\//, "").split("/");
    s = path.reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return s || {};
}

/** A short type name for a schema: `Customer`, `string (uuid)`, `[Deal]`, `string | null`. */
function typeName(schema) {
  if (!schema) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop();
  for (const k of ["oneOf", "anyOf", "allOf"]) {
    if (schema[k]) return schema[k].map(typeName).join(k === "allOf" ? " & " : " | ");
  }
  let t = schema.type;
  if (Array.isArray(t)) return t.map((x) => (x === "array" ? `[${typeName(schema.items)}]` : x)).join(" | ");
  if (t === "array") return `[${typeName(schema.items)}]`;
  if (!t) return schema.enum ? "enum" : "any";
  if (schema.format) t += ` (${schema.format})`;
  return t;
}

/** The schema as a nested list of properties, following references up to MAX_DEPTH. */
function schemaTree(schema, depth = 0, seen = new Set()) {
  const ref = schema && schema.$ref;
  const s = resolve(schema);
  const box = el("div", { class: "schema" });
  if (s.description && depth === 0) box.append(el("p", { class: "desc" }, s.description));
  if (s.enum) box.append(el("p", {}, "One of: ", el("code", {}, s.enum.map(String).join(", "))));
  // Variants worth expanding: objects with properties or enums (not `null`, not plain values).
  const variants = (s.oneOf || s.anyOf || []).filter((v) => {
    const r = resolve(v);
    return r.properties || r.enum || r.oneOf;
  });
  if (variants.length === 1 && depth < MAX_DEPTH) {
    box.append(schemaTree(variants[0], depth + 1, seen));
  } else if (variants.length && depth < MAX_DEPTH) {
    const ul = el("ul");
    for (const v of variants) ul.append(el("li", {}, el("span", { class: "type" }, typeName(v)), schemaTree(v, depth + 1, seen)));
    box.append(el("p", {}, "One of:"), ul);
  }
  const props = s.properties || (s.allOf ? Object.assign({}, ...s.allOf.map((x) => resolve(x).properties || {})) : null);
  if (props && depth < MAX_DEPTH && !(ref && seen.has(ref))) {
    const next = new Set(seen);
    if (ref) next.add(ref);
    const required = new Set(s.required || []);
    const ul = el("ul");
    for (const [name, p] of Object.entries(props)) {
      const inner = resolve(p.items && !p.$ref ? p.items : p);
      const li = el("li", {},
        el("span", { class: "prop" }, name), ": ",
        el("span", { class: "type" }, typeName(p)),
        required.has(name) ? el("span", { class: "req" }, "required") : null,
        p.description ? el("span", { class: "desc" }, " — ", p.description) : null);
      if ((inner.properties || inner.oneOf) && depth + 1 < MAX_DEPTH) li.append(schemaTree(p.items && !p.$ref ? p.items : p, depth + 1, next));
      ul.append(li);
    }
    box.append(ul);
  } else if (s.additionalProperties && typeof s.additionalProperties === "object") {
    box.append(el("p", {}, "A map of ", el("span", { class: "type" }, typeName(s.additionalProperties)), " by key."));
  }
  return box;
}

/** A plausible example value for a request body, from the schema. */
function example(schema, depth = 0) {
  const s = resolve(schema);
  if (s.example !== undefined) return s.example;
  if (s.examples && s.examples.length) return s.examples[0];
  if (depth > 3) return null;
  if (s.enum) return s.enum[0];
  const variants = s.oneOf || s.anyOf;
  if (variants) return example(variants[0], depth + 1);
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  switch (t) {
    case "object": {
      const out = {};
      const required = new Set(s.required || []);
      for (const [k, p] of Object.entries(s.properties || {})) {
        if (required.has(k)) out[k] = example(p, depth + 1);
      }
      return out;
    }
    case "array": return [];
    case "integer": return 0;
    case "number": return 0;
    case "boolean": return false;
    case "string": return "";
    default: return null;
  }
}

function slug(op) {
  return `${op.method}-${op.path}`.replace(/[^A-Za-z0-9]+/g, "-");
}

function renderNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  const byTag = new Map();
  for (const op of ops) {
    const tag = (op.op.tags && op.op.tags[0]) || "other";
    if (!byTag.has(tag)) byTag.set(tag, []);
    byTag.get(tag).push(op);
  }
  for (const [tag, list] of byTag) {
    nav.append(el("h2", {}, tag));
    const ul = el("ul");
    for (const op of list) {
      const a = el("a", { href: `#${slug(op)}` },
        el("span", { class: `method m-${op.method}` }, op.method), op.path);
      ul.append(el("li", {}, a));
    }
    nav.append(ul);
  }
}

function paramsTable(params) {
  if (!params.length) return null;
  const body = el("tbody");
  for (const p of params) {
    body.append(el("tr", {},
      el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, "required") : null),
      el("td", {}, p.in),
      el("td", { class: "type" }, typeName(p.schema)),
      el("td", {}, p.description || "")));
  }
  return el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Parameter"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description"))), body);
}

function tryIt(op, params, bodySchema) {
  const form = el("form", { class: "try" });
  form.append(el("h3", {}, "Try it"));
  const inputs = new Map();
  for (const p of params.filter((p) => p.in === "path" || p.in === "query" || p.in === "header")) {
    const id = `${slug(op)}-${p.in}-${p.name}`;
    const input = el("input", { id, name: p.name, spellcheck: "false", placeholder: typeName(p.schema) });
    if (p.in === "path" && p.name === "tenant") input.value = "demo";
    inputs.set(p, input);
    form.append(el("label", { for: id }, `${p.name} (${p.in}${p.required ? ", required" : ""})`), input);
  }
  let body = null;
  if (bodySchema) {
    const id = `${slug(op)}-body`;
    body = el("textarea", { id, spellcheck: "false" });
    body.value = JSON.stringify(example(bodySchema), null, 2);
    form.append(el("label", { for: id }, "JSON body"), body);
  }
  const out = el("div", { "aria-live": "polite" });
  form.append(el("button", { type: "submit" }, "Send"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let path = op.path;
    const query = new URLSearchParams();
    const headers = { Accept: "application/json" };
    for (const [p, input] of inputs) {
      const v = input.value.trim();
      if (!v) continue;
      if (p.in === "path") path = path.replace(`{${p.name}}`, encodeURIComponent(v));
      else if (p.in === "query") query.set(p.name, v);
      else headers[p.name] = v;
    }
    const token = document.getElementById("token").value.trim();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method: op.method.toUpperCase(), headers };
    if (body) {
      headers["Content-Type"] = "application/json";
      init.body = body.value;
    }
    const url = path + (query.toString() ? `?${query}` : "");
    out.replaceChildren(el("p", {}, "Sending…"));
    try {
      const r = await fetch(url, init);
      const text = await r.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
      out.replaceChildren(
        el("p", {}, el("strong", { class: r.ok ? "status-ok" : "status-err" }, `${r.status} ${r.statusText}`),
          ` ${init.method} ${url}`, r.headers.get("x-request-id") ? ` · request ${r.headers.get("x-request-id")}` : ""),
        el("pre", {}, shown.length > 200000 ? `${shown.slice(0, 200000)}\n…` : shown));
    } catch (e) {
      out.replaceChildren(el("p", { class: "status-err" }, `The request failed: ${e}`));
    }
  });
  return form;
}

function renderOp(op) {
  const main = document.getElementById("main");
  const o = op.op;
  const params = [...(doc.paths[op.path].parameters || []), ...(o.parameters || [])];
  const section = el("section", { id: slug(op) },
    el("h2", { class: "op" }, el("span", { class: `method m-${op.method}` }, op.method), op.path),
    o.summary ? el("p", {}, o.summary) : null,
    o.description && o.description !== o.summary ? el("p", { class: "desc" }, o.description) : null,
    el("p", { class: "desc" }, "operationId ", el("code", {}, o.operationId || "")));
  const table = paramsTable(params);
  if (table) section.append(el("h3", {}, "Parameters"), table);
  let bodySchema = null;
  if (o.requestBody) {
    section.append(el("h3", {}, "Request body"));
    for (const [media, c] of Object.entries(o.requestBody.content || {})) {
      section.append(el("p", {}, el("code", {}, media), " ", el("span", { class: "type" }, typeName(c.schema))), schemaTree(c.schema || {}));
      if (media === "application/json") bodySchema = c.schema;
    }
  }
  section.append(el("h3", {}, "Responses"));
  for (const [status, r0] of Object.entries(o.responses || {})) {
    const r = resolve(r0);
    section.append(el("h4", {}, `${status} `, el("span", { class: "desc" }, r.description || "")));
    for (const [media, c] of Object.entries(r.content || {})) {
      section.append(el("p", {}, el("code", {}, media), " ", el("span", { class: "type" }, typeName(c.schema))));
      if (status !== "default" && !String(status).startsWith("4") && !String(status).startsWith("5")) section.append(schemaTree(c.schema || {}));
    }
  }
  const wasm = o.requestBody && o.requestBody.content && !o.requestBody.content["application/json"];
  section.append(wasm ? el("p", { class: "desc" }, "Send binary bodies with curl or the CLI.") : tryIt(op, params, bodySchema));
  main.replaceChildren(section);
  main.focus();
}

function route() {
  const id = decodeURIComponent(location.hash.slice(1));
  const op = ops.find((o) => slug(o) === id) || ops[0];
  if (op) renderOp(op);
}

async function start() {
  document.getElementById("auth").addEventListener("submit", (ev) => ev.preventDefault());
  const r = await fetch("/v1/openapi.json");
  doc = await r.json();
  ops = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) if (item[method]) ops.push({ method, path, op: item[method] });
  }
  document.title = `${doc.info.title} ${doc.info.version}`;
  renderNav();
  window.addEventListener("hashchange", route);
  route();
}

start().catch((e) => {
  document.getElementById("main").replaceChildren(el("p", { class: "status-err" }, `Could not load the API document: ${e}`));
});
