// Export settings on the Activity page, for Organization Admins: the org's
// destinations with their delivery status, create and edit, enable and
// disable, a test event, a replay, a redrive of the dead-lettered jobs.
// Every action is a call of the destinations API with the page's
// credential, so its permissions and its
// self-audit are the API's. A member (403 on the list) sees no section.
// Text from the server is only written with textContent.

const $ = (id) => document.getElementById(id);

let ctx = null; // { base, credential() }

function node(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") e.textContent = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${ctx.credential()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(ctx.base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let json = null;
  try {
    json = await response.json();
  } catch (_) {
    json = null;
  }
  return { status: response.status, ok: response.ok, body: json || {} };
}

function say(text, failed) {
  const out = $("export-result");
  out.textContent = text;
  out.dataset.outcome = failed ? "error" : "ok";
}

function problemText(answer) {
  const b = answer.body;
  const fields = (b.errors || []).map((e) => `${e.field} ${e.reason}`).join("; ");
  return [b.title || `HTTP ${answer.status}`, b.detail, fields].filter(Boolean).join(": ");
}

const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "never");

function row(d, status) {
  const s = status || {};
  const state = s.state || d.state;
  const actions = node("td", { class: "export-actions" });
  const button = (label, act) =>
    node("button", { type: "button", class: "secondary small", dataset: { act, id: d.id }, text: label });
  actions.append(
    button("Send test event", "test"),
    button(d.enabled ? "Disable" : "Enable", d.enabled ? "disable" : "enable"),
    button("Edit", "edit"),
  );
  if ((s.jobs_in_dlq ?? 0) > 0) actions.append(button("Redrive DLQ", "redrive"));
  return node(
    "tr",
    { dataset: { destination: d.id } },
    node("td", {}, node("strong", { text: d.name }), node("br"), node("code", { text: d.id })),
    node("td", { text: d.type }),
    node("td", {}, node("span", { class: "badge", dataset: { state }, "data-role": "state", text: state })),
    node("td", { text: when(s.last_success_at) }),
    node("td", { text: s.last_error ? `${s.last_error} (${when(s.last_error_at)})` : "none" }),
    node("td", { text: String(s.events_delivered ?? 0) }),
    node("td", { text: String(s.windows_pending ?? 0) }),
    node("td", { text: String(s.jobs_in_dlq ?? 0) }),
    node("td", { text: d.secret_hint || "none" }),
    actions,
  );
}

let destinations = new Map();

// Refreshes can overlap (a test event's refresh is still reading when the
// admin disables the destination); only the one started last may draw, or
// an older read would paint the state from before the change.
let generation = 0;

async function refresh() {
  const mine = ++generation;
  const panel = $("export-panel");
  panel.dataset.pending = String(Number(panel.dataset.pending || 0) + 1);
  try {
    return await draw(mine);
  } finally {
    panel.dataset.pending = String(Number(panel.dataset.pending) - 1);
  }
}

async function draw(mine) {
  const list = await call("GET", "/destinations");
  if (!list.ok) return list.status;
  const read = [];
  // One status read per destination: an org has few (the API caps them).
  for (const d of list.body.destinations || []) {
    const status = await call("GET", `/destinations/${encodeURIComponent(d.id)}/status`);
    read.push([d, status.ok ? status.body : null]);
  }
  if (mine !== generation) return 200;
  destinations = new Map(read.map(([d]) => [d.id, d]));
  $("export-rows").replaceChildren(...read.map(([d, status]) => row(d, status)));
  $("replay-destination").replaceChildren(...read.map(([d]) => node("option", { value: d.id, text: d.name })));
  $("export-empty").hidden = read.length > 0;
  return 200;
}

function resetForm() {
  const f = $("export-form");
  f.reset();
  f.dataset.editing = "";
  $("export-type").disabled = false;
  $("export-submit").textContent = "Create destination";
  $("export-secret-hint").textContent = "";
}

function edit(id) {
  const d = destinations.get(id);
  if (!d) return;
  const f = $("export-form");
  f.dataset.editing = id;
  $("export-name").value = d.name;
  $("export-type").value = d.type;
  $("export-type").disabled = true;
  $("export-format").value = d.format || "json";
  $("export-settings").value = JSON.stringify(d.settings || {}, null, 2);
  $("export-secret").value = "";
  $("export-secret-hint").textContent = `Current secret: ${d.secret_hint || "none"}. Leave empty to keep it.`;
  $("export-submit").textContent = "Save changes";
  $("export-name").focus();
}

async function submit(e) {
  e.preventDefault();
  let settings;
  try {
    settings = JSON.parse($("export-settings").value || "{}");
  } catch (_) {
    say("Settings must be a JSON object, e.g. {\"url\": \"https://…\"}.", true);
    return;
  }
  const body = { name: $("export-name").value.trim(), settings, format: $("export-format").value };
  const secret = $("export-secret").value;
  if (secret) body.secret = secret;
  const editing = $("export-form").dataset.editing;
  let answer;
  if (editing) {
    answer = await call("PATCH", `/destinations/${encodeURIComponent(editing)}`, body);
  } else {
    body.type = $("export-type").value;
    answer = await call("POST", "/destinations", body);
  }
  if (!answer.ok) {
    say(problemText(answer), true);
    return;
  }
  say(editing ? `Saved ${answer.body.name}.` : `Created ${answer.body.name} (${answer.body.id}).`, false);
  resetForm();
  await refresh();
}

async function act(button) {
  const { act: what, id } = button.dataset;
  const path = `/destinations/${encodeURIComponent(id)}`;
  if (what === "edit") return edit(id);
  button.disabled = true;
  try {
    if (what === "test") {
      const answer = await call("POST", `${path}/test`);
      if (!answer.ok) say(problemText(answer), true);
      else
        say(
          answer.body.delivered
            ? `Test event delivered (${answer.body.outcome}): ${answer.body.detail}`
            : `Test event not delivered (${answer.body.outcome}): ${answer.body.detail}`,
          !answer.body.delivered,
        );
    } else if (what === "redrive") {
      const answer = await call("POST", `${path}/redrive`);
      if (!answer.ok) say(problemText(answer), true);
      else
        say(
          `Sent ${answer.body.jobs} dead-lettered job(s) again${answer.body.more ? "; more remain, redrive again" : ""}.`,
          false,
        );
    } else {
      const answer = await call("PATCH", path, { enabled: what === "enable" });
      if (!answer.ok) say(problemText(answer), true);
      else say(`${answer.body.name} is ${answer.body.enabled ? "enabled" : "disabled"}.`, false);
    }
    await refresh();
  } finally {
    button.disabled = false;
  }
}

async function replay(e) {
  e.preventDefault();
  const id = $("replay-destination").value;
  if (!id) return;
  const answer = await call("POST", `/destinations/${encodeURIComponent(id)}/replay`, {
    from: $("replay-from").value,
    to: $("replay-to").value,
  });
  if (!answer.ok) say(problemText(answer), true);
  else say(`Replay queued: events recorded after ${answer.body.window.from} up to ${answer.body.window.to}.`, false);
  await refresh();
}

let wired = false;

/// Shows the section when the credential may manage export; hides it
/// otherwise (a member's 403, an ingest key's, an error).
export async function showExportSettings(base, credential) {
  ctx = { base, credential };
  const panel = $("export-panel");
  if (!wired) {
    wired = true;
    $("export-form").addEventListener("submit", submit);
    $("export-cancel").addEventListener("click", resetForm);
    $("replay-form").addEventListener("submit", replay);
    $("export-rows").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-act]");
      if (b) act(b);
    });
  }
  let status = 0;
  try {
    status = await refresh();
  } catch (_) {
    status = 0;
  }
  panel.hidden = status !== 200;
  panel.dataset.ready = "true";
}

export function hideExportSettings() {
  const panel = $("export-panel");
  panel.hidden = true;
  $("export-rows").replaceChildren();
  destinations = new Map();
}
