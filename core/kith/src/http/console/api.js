// The console's only way to the server: the public HTTP API, with the signed-in token.

const KEY = "kith.console.token";

/** The token of this tab (sessionStorage: per tab, gone when it closes; never a URL or cookie). */
export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer that was not 2xx: the problem+json body (status, code, detail, errors by field). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "http_error";
    this.problem = problem;
  }
}

/** An error as one line for the page: the server's detail and code, or what failed. */
export function errorText(x) {
  return x instanceof ApiError ? `${x.message} (${x.code})` : String(x.message || x);
}

/** Sent when the token stops working (revoked, mistyped): the app signs out. */
export const onUnauthorized = { handler: () => {} };

/**
 * Calls the API: `method path`, a JSON `body` (or raw bytes with `contentType`), extra headers.
 * Returns {status, body, etag}; throws ApiError on a non-2xx answer.
 */
export async function call(method, path, { body, headers = {}, contentType, signal } = {}) {
  const h = { Accept: "application/json", ...headers };
  const t = token.get();
  if (t) h.Authorization = `Bearer ${t}`;
  let payload;
  if (body !== undefined) {
    if (contentType) {
      h["Content-Type"] = contentType;
      payload = body;
    } else {
      h["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  const r = await fetch(path, { method, headers: h, body: payload, signal, cache: "no-store", credentials: "omit" });
  const text = await r.text();
  let parsed = null;
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = { detail: text.slice(0, 300) }; }
  }
  if (!r.ok) {
    if (r.status === 401 && t) onUnauthorized.handler();
    throw new ApiError(r.status, parsed || {});
  }
  return { status: r.status, body: parsed, etag: r.headers.get("ETag") };
}

export const get = (path, opts) => call("GET", path, opts).then((r) => r.body);

/** A path with query parameters (empty ones left out). */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** The tenant's part of the API. */
export const t = (tenant, rest = "") => `/v1/tenants/${encodeURIComponent(tenant)}${rest}`;

/**
 * Reads a server-sent events stream with fetch (EventSource cannot send a token) and calls
 * `onEvent({event, id, data})` for each event until `signal` aborts. Lines longer than 64 KiB
 * and events larger than 256 KiB are dropped rather than kept growing.
 */
export async function stream(path, onEvent, signal) {
  const h = { Accept: "text/event-stream" };
  const tk = token.get();
  if (tk) h.Authorization = `Bearer ${tk}`;
  const r = await fetch(path, { headers: h, signal, cache: "no-store", credentials: "omit" });
  if (!r.ok) {
    let p = {};
    try { p = await r.json(); } catch { /* not JSON */ }
    throw new ApiError(r.status, p);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let ev = { event: "message", id: null, data: [] };
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (ev.data.length) onEvent({ event: ev.event, id: ev.id, data: ev.data.join("\n") });
        ev = { event: "message", id: null, data: [] };
        size = 0;
        continue;
      }
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      size += val.length;
      if (size > 262144) { ev.data = []; continue; }
      if (field === "data") ev.data.push(val);
      else if (field === "event") ev.event = val;
      else if (field === "id") ev.id = val;
    }
    if (buf.length > 65536) buf = "";
  }
}
