// The Activity page embedded as a platform embeds it: an iframe on a second
// local origin (a host page served here on localhost, the API on 127.0.0.1),
// opened with a viewer token minted by the platform's issuer key.
//
//   NODE_PATH=.tools/node_modules EMBED_EXPECT='{...}' node tests/browser/embedded.mjs
//
// Run by tests/tests/browser.rs, which gives the base URL, the org, the
// issuer and admin keys, the word to search and its count, and a webhook
// receiver's URL and secret (it checks the receiver after this exits).

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CHROMIUM = "/usr/bin/chromium";
const TIMEOUT = 15_000;
const want = JSON.parse(process.env.EMBED_EXPECT || "null");
if (!want) {
  console.error("usage: EMBED_EXPECT=<json> node embedded.mjs");
  process.exit(2);
}
const { chromium } = createRequire(import.meta.url)("playwright-core");
let step = "start";
const log = (m) => console.log(`ok - ${m}`);

async function api(method, path, key, body) {
  const r = await fetch(want.base + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json().catch(() => ({}));
  return { status: r.status, body: json };
}

// The platform's page: three lines of HTML around the iframe (README).
const host = createServer((req, res) => {
  const src = decodeURIComponent(new URL(req.url, "http://x").searchParams.get("src") || "");
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><title>Platform</title><h1>Organization settings</h1>
<iframe id="activity" title="Activity" src="${src.replace(/"/g, "&quot;")}" width="1300" height="1800"></iframe>`);
});
await new Promise((ok) => host.listen(0, ok));
const hostOrigin = `http://localhost:${host.address().port}`;

async function mint(role) {
  const r = await api("POST", "/v1/viewer-tokens", want.issuer_key, {
    user: { id: "usr_ada", name: "Ada Lovelace", email: "ada@example.com" },
    role,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function openEmbedded(page, minted) {
  const src = `${want.base}${minted.page_url}`;
  const documents = [];
  page.on("response", (r) => {
    if (r.request().resourceType() === "document") documents.push(r);
  });
  await page.goto(`${hostOrigin}/?src=${encodeURIComponent(src)}`);
  const handle = await page.waitForSelector("#activity", { timeout: TIMEOUT });
  const frame = await handle.contentFrame();
  await frame
    .waitForFunction(() => Number(document.body.dataset.loaded || 0) > 0, null, { timeout: TIMEOUT })
    .catch(async (e) => {
      const seen = await frame.evaluate(() => ({
        log: document.getElementById("log-panel").hidden,
        key: document.getElementById("key-panel").hidden,
        state: document.getElementById("log-panel").dataset.state,
        status: document.getElementById("status").textContent,
        problem: document.getElementById("problem-detail").textContent,
      }));
      throw new Error(`${e.message}: the page shows ${JSON.stringify(seen)}`);
    });
  await frame.waitForFunction(() => document.getElementById("export-panel").dataset.ready === "true", null, {
    timeout: TIMEOUT,
  });
  const doc = documents.find((r) => r.url().startsWith(`${want.base}/activity`));
  return { frame, csp: doc ? doc.headers()["content-security-policy"] : "" };
}

async function run(context) {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("pageerror", (e) => console.error(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => console.error(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));

  step = "the org lets the platform's origin frame its page";
  const set = await api("PUT", "/v1/embedding", want.admin_key, { frame_ancestors: [hostOrigin] });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  log(step);

  step = "the embedded page opens with an admin viewer token";
  const admin = await mint("admin");
  const { frame, csp } = await openEmbedded(page, admin);
  assert.ok(csp.includes(`frame-ancestors ${hostOrigin}`), `CSP: ${csp}`);
  assert.ok(!frame.url().includes("token="), `the token left the address bar: ${frame.url()}`);
  assert.ok(frame.url().includes(`org=${want.org}`), frame.url());
  const stored = await frame.evaluate(() => {
    try {
      return sessionStorage.length;
    } catch (_) {
      return 0; // a third-party frame may have no storage at all
    }
  });
  assert.equal(stored, 0, "the token is kept in memory only");
  assert.equal(await frame.isVisible("#key-panel"), false);
  log(step);

  step = "search";
  const before = await frame.evaluate(() => Number(document.body.dataset.loaded || 0));
  await frame.fill("#q", want.word);
  await frame.press("#q", "Enter");
  await frame.waitForFunction((n) => Number(document.body.dataset.loaded || 0) > n, before, { timeout: TIMEOUT });
  const ids = await frame.$$eval("#rows tr", (rows) => rows.map((r) => r.dataset.id));
  assert.deepEqual(ids.sort(), [...want.word_ids].sort(), "the search's rows");
  log(`${step} (${ids.length} rows)`);

  step = "open an entry: its receipt is verified in the browser";
  await frame.click("#rows tr:first-child .col-description button");
  await frame.waitForSelector("#detail[open]", { timeout: TIMEOUT });
  await frame.waitForFunction(
    () => ["verified", "failed", "pending", "unavailable"].includes(document.getElementById("detail-receipt")?.dataset.receipt),
    null,
    { timeout: TIMEOUT },
  );
  const receiptText = await frame.textContent("#detail-receipt");
  assert.match(receiptText, /^Included in checkpoint \d+ \(verified in your browser\)$/, receiptText);
  await page.keyboard.press("Escape");
  await frame.waitForSelector("#detail", { state: "hidden", timeout: TIMEOUT });
  // The same check refuses a receipt changed anywhere: the event, a path
  // hash, the leaf index, the signed root, the signature, the key.
  const shown = JSON.parse(await frame.textContent("#detail-json")).id;
  const receipt = (await api("GET", `/v1/events/${shown}/proof`, want.admin_key)).body;
  const keys = (await api("GET", "/v1/integrity/public-keys", want.admin_key)).body.keys.map((k) => k.public_key);
  assert.ok(receipt.inclusion_path.length > 0, `a tree of one leaf proves nothing here: ${JSON.stringify(receipt)}`);
  const verdicts = await frame.evaluate(
    async ({ receipt, keys }) => {
      const { verifyReceipt } = await import("/activity/activity-receipt.js");
      const flip = (h) => (h[0] === "0" ? "1" : "0") + h.slice(1);
      const [body, sigs] = receipt.checkpoint.split("\n\n");
      const lines = body.split("\n");
      const otherRoot = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
      const sig = sigs.replace(/ (\S)(\S*)\n$/, (_, c, rest) => ` ${c === "A" ? "B" : "A"}${rest}\n`);
      const cases = {
        served: [receipt, receipt.event_hash, keys],
        event: [{ ...receipt, event_hash: flip(receipt.event_hash) }, flip(receipt.event_hash), keys],
        path: [{ ...receipt, inclusion_path: [flip(receipt.inclusion_path[0]), ...receipt.inclusion_path.slice(1)] }, receipt.event_hash, keys],
        index: [{ ...receipt, leaf_index: (receipt.leaf_index + 1) % receipt.tree_size }, receipt.event_hash, keys],
        root: [{ ...receipt, checkpoint: `${[lines[0], lines[1], otherRoot, ...lines.slice(3)].join("\n")}\n\n${sigs}` }, receipt.event_hash, keys],
        signature: [{ ...receipt, checkpoint: `${body}\n\n${sig}` }, receipt.event_hash, keys],
        key: [receipt, receipt.event_hash, [btoa(String.fromCharCode(...new Uint8Array(32).fill(9)))]],
      };
      const out = {};
      for (const [name, args] of Object.entries(cases)) out[name] = (await verifyReceipt(...args)).verified;
      return out;
    },
    { receipt, keys },
  );
  assert.deepEqual(
    verdicts,
    { served: true, event: false, path: false, index: false, root: false, signature: false, key: false },
    "only the receipt as served verifies",
  );
  log(`${step}: ${receiptText}`);

  step = "download, then find AUDIT_LOG_EXPORTED";
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: TIMEOUT }),
    frame.click("#download-csv"),
  ]);
  const lines = readFileSync(await download.path(), "utf8").split("\r\n").filter((l) => l !== "");
  assert.equal(lines.length, want.word_ids.length + 1, "header and rows");
  const exported = await api("GET", "/v1/events?action=AUDIT_LOG_EXPORTED", want.admin_key);
  assert.equal(exported.status, 200);
  const record = exported.body.events.find((e) => e.actor && e.actor.id === "usr_ada");
  assert.ok(record, `no AUDIT_LOG_EXPORTED by the viewer: ${JSON.stringify(exported.body)}`);
  assert.equal(record.metadata.rows, String(want.word_ids.length));
  assert.equal(record.metadata.format, "csv");
  assert.ok(record.metadata.filter.includes(`q=${want.word}`), record.metadata.filter);
  log(step);

  step = "as admin: create a webhook destination at the local receiver";
  assert.equal(await frame.isVisible("#export-panel"), true, "admins see export settings");
  await frame.fill("#export-name", "Local hook");
  await frame.selectOption("#export-type", "webhook");
  await frame.fill("#export-settings", JSON.stringify({ url: want.webhook_url }));
  await frame.fill("#export-secret", want.webhook_secret);
  await frame.click("#export-submit");
  await frame.waitForFunction(() => /Created Local hook/.test(document.getElementById("export-result").textContent), null, {
    timeout: TIMEOUT,
  });
  const created = (await frame.textContent("#export-result")).match(/\((dst_[^)]+)\)/)[1];
  // The org also has the destination with a dead-lettered job: every step
  // below names its row.
  const row = `#export-rows tr[data-destination="${created}"]`;
  await frame.waitForSelector(row, { timeout: TIMEOUT });
  const hint = await frame.textContent(`${row} td:nth-child(9)`);
  assert.equal(hint, `…${want.webhook_secret.slice(-4)}`, "the secret's hint, never the secret");
  assert.equal(await frame.textContent(`${row} [data-role=state]`), "active");
  log(step);

  step = "send a test event and show its outcome";
  // The refresh after the test event is held at its status read until the
  // destination has been disabled and drawn: an older read must not paint
  // over a newer state (the page's refreshes overlap when an admin clicks on).
  let release;
  const held = new Promise((resolve) => (release = resolve));
  let holding = true;
  await page.route(/\/destinations\/[^/]+\/status$/, async (route) => {
    if (!holding) return route.continue();
    holding = false;
    const response = await route.fetch();
    await held;
    await route.fulfill({ response });
  });
  await frame.click(`${row} button[data-act=test]`);
  await frame.waitForFunction(() => /Test event/.test(document.getElementById("export-result").textContent), null, {
    timeout: TIMEOUT,
  });
  assert.match(await frame.textContent("#export-result"), /^Test event delivered/);
  log(step);

  step = "disable it and see the state change";
  await frame.click(`${row} button[data-act=disable]`);
  await frame.waitForFunction(
    (sel) => document.querySelector(`${sel} [data-role=state]`)?.textContent === "disabled",
    row,
    { timeout: TIMEOUT },
  );
  assert.match(await frame.textContent("#export-result"), /is disabled/);
  assert.equal(holding, false, "the test event's refresh was held");
  release();
  await frame.waitForFunction(() => document.getElementById("export-panel").dataset.pending === "0", null, {
    timeout: TIMEOUT,
  });
  await page.unroute(/\/destinations\/[^/]+\/status$/);
  assert.equal(await frame.textContent(`${row} [data-role=state]`), "disabled", "the older refresh drew nothing");
  log(step);

  step = "edit it: a new name, the secret kept";
  await frame.click(`${row} button[data-act=edit]`);
  assert.equal(
    await frame.textContent("#export-secret-hint"),
    `Current secret: …${want.webhook_secret.slice(-4)}. Leave empty to keep it.`,
  );
  assert.equal(await frame.inputValue("#export-secret"), "", "the secret is never filled in");
  await frame.fill("#export-name", "Local hook, renamed");
  await frame.click("#export-submit");
  await frame.waitForFunction(
    (sel) => document.querySelector(`${sel} strong`)?.textContent === "Local hook, renamed",
    row,
    { timeout: TIMEOUT },
  );
  assert.match(await frame.textContent("#export-result"), /^Saved Local hook, renamed/);
  assert.equal(await frame.textContent(`${row} td:nth-child(9)`), hint, "the same secret");
  log(step);

  step = "replay a window to it";
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  await frame.selectOption("#replay-destination", created);
  await frame.fill("#replay-from", day(-1));
  await frame.fill("#replay-to", day(0));
  await frame.click("#replay-form button[type=submit]");
  await frame.waitForFunction(() => /^Replay queued/.test(document.getElementById("export-result").textContent), null, {
    timeout: TIMEOUT,
  });
  log(step);

  step = "redrive the other destination's dead-lettered job";
  const dead = `#export-rows tr[data-destination="${want.dead_destination}"]`;
  assert.equal(await frame.textContent(`${dead} td:nth-child(8)`), "1", "one job in the DLQ");
  assert.equal(await frame.$(`${row} button[data-act=redrive]`), null, "no redrive without dead jobs");
  await frame.click(`${dead} button[data-act=redrive]`);
  await frame.waitForFunction(
    (sel) =>
      /^Sent 1 dead-lettered job/.test(document.getElementById("export-result").textContent) &&
      document.querySelector(`${sel} td:nth-child(8)`)?.textContent === "0" &&
      !document.querySelector(`${sel} button[data-act=redrive]`),
    dead,
    { timeout: TIMEOUT },
  );
  log(step);

  step = "a member token sees no export settings";
  const member = await mint("member");
  const second = await context.newPage();
  second.on("pageerror", (e) => errors.push(e.message));
  const embedded = await openEmbedded(second, member);
  assert.equal(await embedded.frame.isVisible("#export-panel"), false);
  assert.ok((await embedded.frame.$$("#rows tr")).length > 0, "a member still reads the log");
  log(step);

  assert.deepEqual(errors, [], "no script errors");
}

const profile = mkdtempSync(join(tmpdir(), "embedded-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  viewport: { width: 1360, height: 1900 },
  acceptDownloads: true,
  timeout: 60_000,
});
try {
  await run(context);
  console.log("embedded activity page: every step passed");
} catch (err) {
  console.error(`FAILED at step "${step}": ${err.stack || err}`);
  process.exitCode = 1;
} finally {
  await context.close().catch(() => {});
  host.close();
  rmSync(profile, { recursive: true, force: true });
}
