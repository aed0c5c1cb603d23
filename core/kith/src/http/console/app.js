// The console: sign-in, navigation and the page router (`#/t/<tenant>/customers/<id>` and so
// on). The location's hash names a page and its parameters; it never holds a token.

import { ApiError, call, onUnauthorized, token } from "./api.js";
import { fill, h, notice } from "./dom.js";
import { customerPage, customersPage, eventsPage, pipelinePage, segmentsPage, tenantsPage } from "./pages.js";
import { pluginsPage } from "./plugins.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const whoBox = document.getElementById("who");

/** Who is signed in ({kind, tenant, user, role, read_only}), or null. */
let me = null;
/** What the page being shown asked to be told when it goes away (streams, polls). */
let leaving = new AbortController();

onUnauthorized.handler = () => {
  // While signing in, the sign-in form reports the refusal itself.
  if (!me) return;
  token.clear();
  me = null;
  go("#/signin", "Your token is no longer valid: sign in again.");
};

function go(hash, message) {
  pendingMessage = message;
  if (location.hash === hash) route();
  else location.hash = hash;
}
let pendingMessage = null;

/** The tenant pages show: the token's own, or for an admin the one chosen on the tenants page. */
function tenantOf(parts) {
  return parts[0] === "t" ? decodeURIComponent(parts[1] || "") : me && me.tenant;
}

function renderNav(tenant) {
  const links = [];
  if (me && me.kind === "admin") links.push(["#/tenants", "Tenants"]);
  if (tenant) {
    const b = `#/t/${encodeURIComponent(tenant)}`;
    links.push([`${b}/customers`, "Customers"], [`${b}/pipelines`, "Pipelines"], [`${b}/plugins`, "Plugins"],
      [`${b}/segments`, "Segments & scores"], [`${b}/events`, "Events"]);
  }
  const here = location.hash.split("?")[0];
  fill(nav, links.map(([href, label]) => h("a", { href, "aria-current": here.startsWith(href) ? "page" : null }, label)));
  if (me) {
    const label = me.kind === "admin" ? "admin" : me.kind === "user" ? `${me.user_name || "user"} (${me.role}) · ${me.tenant}` : `tenant key · ${me.tenant}`;
    fill(whoBox, h("span", {}, `Signed in: ${label}${me.read_only ? " · read-only" : ""}`),
      h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"));
  } else fill(whoBox);
}

function signOut() {
  token.clear();
  me = null;
  go("#/signin", "Signed out.");
}

function signInPage() {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true,
    placeholder: "kith_…", "aria-describedby": "token-help token-error" });
  const err = h("p", { id: "token-error", class: "field-error", role: "alert" });
  const form = h("form", { class: "signin", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    const value = input.value.trim();
    if (!value) { err.textContent = "Paste a token first."; return; }
    token.set(value);
    try {
      me = (await call("GET", "/v1/whoami")).body;
      go(me.kind === "admin" ? "#/tenants" : `#/t/${encodeURIComponent(me.tenant)}/customers`);
    } catch (x) {
      token.clear();
      err.textContent = x instanceof ApiError ? `${x.message} (${x.code})` : `The server could not be reached: ${x.message}`;
    }
  } },
  h("div", { class: "field" },
    h("label", { for: "token" }, "Token"),
    input,
    h("small", { id: "token-help" }, "An admin token, a tenant key or a user key. It stays in this tab only (never in a URL or cookie) and is forgotten when the tab closes."),
    err),
  h("button", { type: "submit" }, "Sign in"));
  return [h("h1", {}, "Sign in"), form];
}

const PAGES = [
  [/^tenants$/, () => tenantsPage],
  [/^t\/[^/]+\/customers$/, () => customersPage],
  [/^t\/[^/]+\/customers\/[^/]+$/, () => customerPage],
  [/^t\/[^/]+\/pipelines(\/[^/]+)?$/, () => pipelinePage],
  [/^t\/[^/]+\/plugins$/, () => pluginsPage],
  [/^t\/[^/]+\/segments$/, () => segmentsPage],
  [/^t\/[^/]+\/events$/, () => eventsPage],
];

async function route() {
  performance.mark("kith:route-start");
  leaving.abort();
  leaving = new AbortController();
  const signal = leaving.signal;
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  const message = pendingMessage;
  pendingMessage = null;
  if (!me && token.get()) {
    try {
      me = (await call("GET", "/v1/whoami")).body;
    } catch {
      token.clear();
    }
  }
  if (!me) {
    renderNav(null);
    fill(main, message ? notice("warn", message) : null, signInPage());
    rendered();
    return;
  }
  const tenant = tenantOf(parts);
  const found = PAGES.find(([re]) => re.test(parts.join("/")));
  if (!found) {
    go(me.kind === "admin" ? "#/tenants" : `#/t/${encodeURIComponent(me.tenant)}/customers`);
    return;
  }
  renderNav(tenant);
  const ctx = { me, tenant, parts, query: new URLSearchParams(query), signal, go, main };
  fill(main, h("p", { "aria-busy": "true" }, "Loading…"));
  try {
    const content = await found[1]()(ctx);
    if (signal.aborted) return;
    fill(main, message ? notice("ok", message) : null, content);
  } catch (x) {
    if (signal.aborted) return;
    const text = x instanceof ApiError ? `${x.message} (${x.code}, HTTP ${x.status})` : `Something went wrong: ${x.message}`;
    fill(main, h("h1", {}, "This page could not be shown"), notice("error", text));
  }
  rendered();
}

/** Focus to the new page (for keyboards and screen readers), its title, and its timing mark. */
function rendered() {
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
  document.title = `${(main.querySelector("h1") || {}).textContent || "Kith"} · Kith console`;
  // For the browser tests' timings: when each page was drawn, and how long it took.
  performance.mark("kith:rendered");
  performance.measure("kith:page", "kith:route-start");
}

window.addEventListener("hashchange", route);
route();
