// The Activity page: reads the log through the JSON API with the key the
// viewer pastes (kept in sessionStorage, this tab only). Event data is only
// ever written with textContent: a producer's text can never become markup.

import { showExportSettings, hideExportSettings } from "./activity-export.js";
import { verifyReceipt } from "./activity-receipt.js";

const PAGE_SIZE = 25;
const KEY_STORAGE = "audit-log.api-key";
// The API lives beside the page: /activity -> /v1/... (keeps a path prefix).
const API = location.pathname.replace(/\/activity\/?$/, "") + "/v1";
const FILTERS = ["q", "group", "actor", "from", "to"];
// `/activity?org=<id>`: the org whose frame-ancestors the page was served
// with (an embedded page); kept in the URL beside the filters.
const ORG = new URLSearchParams(location.search).get("org");

const $ = (id) => document.getElementById(id);
const ui = {
  keyPanel: $("key-panel"),
  keyForm: $("key-form"),
  keyInput: $("key-input"),
  keyError: $("key-error"),
  session: $("session"),
  sessionKey: $("session-key"),
  forgetKey: $("forget-key"),
  logPanel: $("log-panel"),
  filters: $("filters"),
  q: $("q"),
  group: $("group"),
  actor: $("actor"),
  from: $("from"),
  to: $("to"),
  clear: $("clear-filters"),
  status: $("status"),
  problem: $("problem"),
  problemTitle: $("problem-title"),
  problemDetail: $("problem-detail"),
  problemErrors: $("problem-errors"),
  table: $("log"),
  rows: $("rows"),
  empty: $("empty"),
  loading: $("loading"),
  more: $("load-more"),
  csv: $("download-csv"),
  ndjson: $("download-ndjson"),
  detail: $("detail"),
  detailTitle: $("detail-title"),
  detailFacts: $("detail-facts"),
  detailJson: $("detail-json"),
  detailClose: $("detail-close"),
  detailCopy: $("detail-copy"),
};

const state = {
  key: null,
  groups: new Map(), // slug -> label
  filters: [], // of the search shown: a cursor is bound to them
  events: [],
  cursor: null,
  generation: 0, // bumped by each new search; older answers are dropped
  completed: 0, // loads finished (success or error), for tests and tools
  opener: null,
};

// ------------------------------------------------------------------ helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child);
    }
  }
  return node;
}

const localTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

function utcText(date) {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

function timeNode(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el("span", { text: iso });
  return el("time", { datetime: iso, title: utcText(date), text: localTime.format(date) });
}

function actorName(actor) {
  if (!actor || actor.type === "system") return null;
  return actor.name || actor.email || actor.id;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, params) {
  const url = new URL(API + path, location.origin);
  if (params) {
    for (const [name, value] of params) url.searchParams.append(name, value);
  }
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${state.key}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, {
      title: "The server could not be reached",
      detail: "Check your connection and try again.",
    });
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch (_) {
      problem = {};
    }
    if (!problem || typeof problem !== "object") problem = {};
    problem.title = problem.title || `HTTP ${response.status}`;
    throw new ApiError(response.status, problem);
  }
  return response;
}

// -------------------------------------------------------------- the filters

function currentFilters() {
  const pairs = [];
  const q = ui.q.value.trim();
  const actor = ui.actor.value.trim();
  if (q) pairs.push(["q", q]);
  if (ui.group.value) pairs.push(["group", ui.group.value]);
  if (actor) pairs.push(["actor", actor]);
  if (ui.from.value) pairs.push(["from", ui.from.value]);
  if (ui.to.value) pairs.push(["to", ui.to.value]);
  return pairs;
}

// The filters live in the page's URL too, so a reload or a shared link keeps them.
function saveFiltersToUrl(pairs) {
  const url = new URL(location.href);
  url.search = new URLSearchParams(ORG ? [["org", ORG], ...pairs] : pairs).toString();
  history.replaceState(null, "", url);
}

function loadFiltersFromUrl() {
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value !== null) ui[name].value = value;
  }
}

// ---------------------------------------------------------- rendering state

function setBusy(busy) {
  ui.table.setAttribute("aria-busy", busy ? "true" : "false");
  if (busy) ui.logPanel.dataset.state = "loading";
}

function finishLoad(outcome) {
  state.completed += 1;
  ui.logPanel.dataset.state = outcome;
  document.body.dataset.loaded = String(state.completed);
}

function clearProblem() {
  ui.problem.hidden = true;
  ui.problem.classList.remove("notice-forbidden");
  ui.problemErrors.replaceChildren();
}

function showProblem(err) {
  const problem = err.problem || {};
  ui.problem.classList.toggle("notice-forbidden", err.status === 403);
  ui.problemTitle.textContent =
    err.status === 403
      ? "You cannot view this organization's activity log"
      : problem.title || "Something went wrong";
  ui.problemDetail.textContent = problem.detail || err.message || "";
  const errors = Array.isArray(problem.errors) ? problem.errors.slice(1) : [];
  ui.problemErrors.replaceChildren(
    ...errors.map((e) => el("li", { text: `${e.field}: ${e.reason}` })),
  );
  if (err.status === 403) {
    ui.problemErrors.append(
      el("li", { text: "Ask an Organization Admin, or use an admin's key (Forget key, above)." }),
    );
  }
  ui.problem.hidden = false;
}

function updateStatus() {
  const n = state.events.length;
  if (n === 0) {
    ui.status.textContent = "";
    return;
  }
  const noun = n === 1 ? "event" : "events";
  ui.status.textContent = state.cursor
    ? `Showing the ${n} newest ${noun}; more match`
    : `Showing all ${n} matching ${noun}`;
}

function groupLabel(slug) {
  return state.groups.get(slug) || slug;
}

function row(event, index) {
  const name = actorName(event.actor);
  const actorCell = name
    ? el(
        "td",
        { class: "col-actor" },
        el("span", { class: "actor-name", text: name }),
        el("span", { class: "sub", text: event.actor.id }),
      )
    : el("td", { class: "col-actor" }, el("span", { class: "badge badge-system", text: "System" }));
  const resource = event.resource || {};
  const resourceCell = el(
    "td",
    { class: "col-resource" },
    el("span", { class: "resource-type", text: (resource.type || "").replaceAll("_", " ") }),
    el("span", { class: "resource-name", text: resource.name || resource.id || "" }),
    resource.name ? el("span", { class: "sub", text: resource.id }) : null,
  );
  const open = el("button", {
    type: "button",
    class: "link",
    text: event.description,
    "aria-haspopup": "dialog",
    dataset: { index: String(index) },
  });
  return el(
    "tr",
    { dataset: { id: event.id, group: event.group, action: event.action } },
    el("td", { class: "col-time" }, timeNode(event.occurred_at)),
    el("td", { class: "col-description" }, open),
    actorCell,
    resourceCell,
    el(
      "td",
      { class: "col-type" },
      el("code", { class: "action", text: event.action }),
      el("span", { class: `badge group group-${event.group}`, text: groupLabel(event.group) }),
    ),
  );
}

function appendRows(events) {
  const start = state.events.length;
  state.events.push(...events);
  ui.rows.append(...events.map((e, i) => row(e, start + i)));
}

// ---------------------------------------------------------------- loading

async function search() {
  const generation = ++state.generation;
  const filters = currentFilters();
  saveFiltersToUrl(filters);
  state.filters = filters;
  state.events = [];
  state.cursor = null;
  ui.rows.replaceChildren();
  ui.more.hidden = true;
  ui.empty.hidden = true;
  ui.status.textContent = "";
  clearProblem();
  ui.loading.hidden = false;
  setBusy(true);
  try {
    const page = await fetchPage(filters, null);
    if (generation !== state.generation) return;
    appendRows(page.events);
    state.cursor = page.next_cursor;
    ui.empty.hidden = state.events.length > 0;
    ui.more.hidden = !state.cursor;
    updateStatus();
    finishLoad(state.events.length ? "ready" : "empty");
  } catch (err) {
    if (generation !== state.generation) return;
    handleError(err);
  } finally {
    if (generation === state.generation) {
      ui.loading.hidden = true;
      setBusy(false);
    }
  }
}

async function loadMore() {
  if (!state.cursor) return;
  const generation = state.generation;
  ui.more.disabled = true;
  ui.more.textContent = "Loading…";
  setBusy(true);
  clearProblem();
  try {
    const page = await fetchPage(state.filters, state.cursor);
    if (generation !== state.generation) return;
    const firstNew = state.events.length;
    appendRows(page.events);
    state.cursor = page.next_cursor;
    ui.more.hidden = !state.cursor;
    updateStatus();
    // Keep keyboard users where the new rows start.
    const next = ui.rows.children[firstNew];
    if (next && document.activeElement === ui.more) next.querySelector("button").focus();
    finishLoad("ready");
  } catch (err) {
    if (generation !== state.generation) return;
    handleError(err);
  } finally {
    ui.more.disabled = false;
    ui.more.textContent = "Load more";
    if (generation === state.generation) setBusy(false);
  }
}

async function fetchPage(filters, cursor) {
  const params = [...filters, ["limit", String(PAGE_SIZE)]];
  if (cursor) params.push(["cursor", cursor]);
  const response = await api("/events", params);
  const body = await response.json();
  return { events: body.events || [], next_cursor: body.next_cursor || null };
}

function handleError(err) {
  if (err.status === 401) {
    forgetKey(err.problem.detail || "The API key was not accepted.");
    finishLoad("unauthorized");
    return;
  }
  showProblem(err);
  ui.empty.hidden = true;
  finishLoad(err.status === 403 ? "forbidden" : "error");
}

async function loadGroups() {
  try {
    const response = await api("/event-types");
    const body = await response.json();
    const selected = ui.group.value;
    ui.group.replaceChildren(el("option", { value: "", text: "All groups" }));
    state.groups.clear();
    for (const g of body.groups || []) {
      state.groups.set(g.group, g.label);
      ui.group.append(el("option", { value: g.group, text: g.label }));
    }
    ui.group.value = selected;
    return true;
  } catch (err) {
    if (err.status === 401) {
      forgetKey(err.problem.detail || "The API key was not accepted.");
      finishLoad("unauthorized");
      return false;
    }
    // The menu is a convenience: the log still loads without it.
    return true;
  }
}

// ----------------------------------------------------------------- the key

function showKeyPanel(message) {
  ui.logPanel.hidden = true;
  ui.session.hidden = true;
  ui.keyPanel.hidden = false;
  ui.keyError.hidden = !message;
  ui.keyError.textContent = message || "";
  ui.keyInput.value = "";
  ui.keyInput.focus();
}

function forgetKey(message) {
  state.key = null;
  hideExportSettings();
  state.generation += 1;
  tabStorage()?.removeItem(KEY_STORAGE);
  // Another key may be another org: start it with no filters and no rows.
  for (const name of FILTERS) ui[name].value = "";
  saveFiltersToUrl([]);
  state.events = [];
  state.cursor = null;
  ui.rows.replaceChildren();
  clearProblem();
  if (ui.detail.open) ui.detail.close();
  showKeyPanel(message);
}

async function useKey(key) {
  state.key = key;
  tabStorage()?.setItem(KEY_STORAGE, key);
  ui.sessionKey.textContent = `Key …${key.slice(-4)}`;
  ui.keyPanel.hidden = true;
  ui.session.hidden = false;
  ui.logPanel.hidden = false;
  if (await loadGroups()) await search();
  await showExportSettings(API, () => state.key);
}

// A viewer token from the platform, in the URL fragment (never sent to a
// server, so never in a log): taken out of the address bar at once and
// kept in memory only, so it is gone when the tab closes or reloads.
async function useToken(token) {
  state.key = token;
  ui.sessionKey.textContent = "Viewer session";
  ui.forgetKey.hidden = true;
  ui.keyPanel.hidden = true;
  ui.session.hidden = false;
  ui.logPanel.hidden = false;
  if (await loadGroups()) await search();
  await showExportSettings(API, () => state.key);
}

// Framed on another site, the browser may deny the page its storage (a
// third-party iframe): a pasted key then lives in memory only.
function tabStorage() {
  try {
    return window.sessionStorage;
  } catch (_) {
    return null;
  }
}

function tokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (!token) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return token;
}

// ---------------------------------------------------------------- details

function fact(term, ...value) {
  return [el("dt", { text: term }), el("dd", {}, ...value)];
}

function openDetail(index, opener) {
  const event = state.events[index];
  if (!event) return;
  state.opener = opener;
  ui.detailTitle.textContent = event.description;
  const actor = actorName(event.actor);
  const resource = event.resource || {};
  const context = event.context || {};
  const date = new Date(event.occurred_at);
  ui.detailFacts.replaceChildren(
    ...fact("Event id", el("code", { text: event.id })),
    ...fact(
      "When",
      timeNode(event.occurred_at),
      el("span", { class: "sub", text: Number.isNaN(date.getTime()) ? "" : utcText(date) }),
    ),
    ...fact(
      "Actor",
      actor ? `${actor} (${event.actor.type} ${event.actor.id})` : "System",
    ),
    ...fact(
      "Resource",
      `${resource.type || ""} ${resource.name || resource.id || ""}`.trim(),
      resource.name ? el("span", { class: "sub", text: resource.id }) : null,
    ),
    ...fact("Event type", el("code", { text: event.action }), ` · ${groupLabel(event.group)}`),
    ...(context.ip ? fact("IP address", context.ip) : []),
    ...(context.user_agent ? fact("User agent", context.user_agent) : []),
    ...(context.request_id ? fact("Request id", context.request_id) : []),
    ...fact("Receipt", el("span", { id: "detail-receipt" })),
  );
  showReceipt(event, $("detail-receipt"));
  ui.detailJson.textContent = JSON.stringify(event, null, 2);
  ui.detailCopy.textContent = "Copy JSON";
  ui.detail.showModal();
  ui.detailClose.focus();
}

// The receipt shown in the detail: fetched, then checked here (proof and
// signature, activity-receipt.js). Only the detail opened last may draw.
let receiptGeneration = 0;

async function showReceipt(event, out) {
  const mine = ++receiptGeneration;
  out.dataset.receipt = "checking";
  out.textContent = "Checking its receipt…";
  let text;
  let outcome;
  try {
    const [receipt, keys] = await Promise.all([
      api(`/events/${encodeURIComponent(event.id)}/proof`).then((r) => r.json()),
      api("/integrity/public-keys").then((r) => r.json()),
    ]);
    const result = await verifyReceipt(
      receipt,
      event.hash,
      (keys.keys || []).map((k) => k.public_key),
    );
    if (result.verified) {
      text = `Included in checkpoint ${result.size} (verified in your browser)`;
      outcome = "verified";
    } else {
      text = `Not verified: ${result.reason}`;
      outcome = "failed";
    }
  } catch (err) {
    if (err.status === 409) {
      text = "Not in a checkpoint yet: its hour is sealed within minutes of its end";
      outcome = "pending";
    } else {
      text = `No receipt: ${err.message}`;
      outcome = "unavailable";
    }
  }
  if (mine !== receiptGeneration) return;
  out.textContent = text;
  out.dataset.receipt = outcome;
}

ui.detail.addEventListener("close", () => {
  if (state.opener && document.contains(state.opener)) state.opener.focus();
  state.opener = null;
});
// A click on the backdrop (outside the dialog's box) closes it too.
ui.detail.addEventListener("click", (e) => {
  if (e.target !== ui.detail) return;
  const box = ui.detail.getBoundingClientRect();
  const inside =
    e.clientX >= box.left && e.clientX <= box.right && e.clientY >= box.top && e.clientY <= box.bottom;
  if (!inside) ui.detail.close();
});
ui.detailClose.addEventListener("click", () => ui.detail.close());
ui.detailCopy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(ui.detailJson.textContent);
    ui.detailCopy.textContent = "Copied";
  } catch (_) {
    ui.detailCopy.textContent = "Copy failed";
  }
});

// -------------------------------------------------------------- downloads

function filenameFrom(disposition, fallback) {
  const match = /filename="?([^";]+)"?/i.exec(disposition || "");
  return match ? match[1] : fallback;
}

// Most parts the page joins into one file. The server cuts a download into
// parts of at most 5.5 MB (and fewer reads); past this many the rest is
// offered as a further file, so the browser never holds more than ~110 MB.
const MAX_JOINED_PARTS = 20;

// Downloads the matching events (from `cursor`, when continuing a download):
// follows the server's parts (`x-truncated`, `x-next-cursor`), including
// empty ones a sparse filter answers with, and joins them into one file.
async function download(format, button, cursor) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Preparing…";
  clearProblem();
  try {
    const chunks = [];
    let name = null;
    let type = "application/octet-stream";
    let next = cursor || null;
    let parts = 0;
    do {
      const params = [...state.filters, ["format", format]];
      if (next) params.push(["cursor", next]);
      const response = await api("/events", params);
      let text = await response.text();
      // Every CSV part starts with the header row: keep the first only.
      if (format === "csv" && parts > 0) text = text.slice(text.indexOf("\r\n") + 2);
      chunks.push(text);
      name ??= filenameFrom(response.headers.get("content-disposition"), `audit-log.${format}`);
      type = response.headers.get("content-type") || type;
      parts += 1;
      next =
        response.headers.get("x-truncated") === "true"
          ? response.headers.get("x-next-cursor")
          : null;
      button.textContent = `Preparing… (${parts} of at most ${MAX_JOINED_PARTS} parts)`;
    } while (next && parts < MAX_JOINED_PARTS);
    const url = URL.createObjectURL(new Blob(chunks, { type }));
    const link = el("a", { href: url, download: name, hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    if (next) {
      const more = el("button", {
        type: "button",
        class: "secondary",
        id: "download-next",
        text: "Download the next part",
      });
      const resume = next;
      more.addEventListener("click", () => download(format, more, resume));
      ui.status.replaceChildren(
        `${name} holds the newest matching events: the download is larger than the ` +
          `${MAX_JOINED_PARTS} parts this page joins in one file. `,
        more,
      );
    } else if (cursor) {
      ui.status.textContent = `${name} completes the download.`;
    }
  } catch (err) {
    if (err.status === 401) forgetKey(err.problem.detail);
    else showProblem(err);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// ------------------------------------------------------------------ wiring

ui.keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = ui.keyInput.value.trim();
  if (!key) {
    showKeyPanel("Paste an API key first.");
    return;
  }
  useKey(key);
});
ui.forgetKey.addEventListener("click", () => forgetKey(""));
ui.filters.addEventListener("submit", (e) => {
  e.preventDefault();
  search();
});
for (const input of [ui.group, ui.from, ui.to]) {
  input.addEventListener("change", () => search());
}
ui.clear.addEventListener("click", () => {
  for (const name of FILTERS) ui[name].value = "";
  search();
});
ui.more.addEventListener("click", () => loadMore());
ui.rows.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-index]");
  if (button) openDetail(Number(button.dataset.index), button);
});
ui.csv.addEventListener("click", () => download("csv", ui.csv));
ui.ndjson.addEventListener("click", () => download("ndjson", ui.ndjson));

loadFiltersFromUrl();
const token = tokenFromFragment();
const saved = tabStorage()?.getItem(KEY_STORAGE);
if (token) useToken(token);
else if (saved) useKey(saved);
else showKeyPanel("");
