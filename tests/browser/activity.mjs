// Drives the Activity page in headless Chromium (Debian's /usr/bin/chromium)
// with playwright-core, and asserts exactly what it shows.
//
//   NODE_PATH=.tools/node_modules ACTIVITY_EXPECT='{...}' \
//     node tests/browser/activity.mjs <base url> <admin key> <screenshot.png>
//
// Run by tests/tests/browser.rs, which starts the server, ingests a known set
// and computes ACTIVITY_EXPECT (counts, ids newest first, first descriptions).
// Exits non-zero on the first failed expectation.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const CHROMIUM = "/usr/bin/chromium";
const TIMEOUT = 15_000;

const [base, adminKey, screenshot] = process.argv.slice(2);
if (!base || !adminKey || !screenshot || !process.env.ACTIVITY_EXPECT) {
  console.error("usage: ACTIVITY_EXPECT=<json> node activity.mjs <base url> <admin key> <screenshot.png>");
  process.exit(2);
}
const want = JSON.parse(process.env.ACTIVITY_EXPECT);

let chromium;
try {
  ({ chromium } = createRequire(import.meta.url)("playwright-core"));
} catch (err) {
  console.error(
    `playwright-core could not be loaded (${err.message}): run \`bash scripts/browser.sh install\` and set NODE_PATH to .tools/node_modules`,
  );
  process.exit(1);
}

const profile = process.env.ACTIVITY_PROFILE_DIR || mkdtempSync(join(tmpdir(), "activity-chromium-"));
mkdirSync(profile, { recursive: true });

let step = "launch";
const log = (message) => console.log(`ok - ${message}`);

async function launch() {
  try {
    // A persistent context is how playwright takes a fresh --user-data-dir.
    return await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1360, height: 960 },
      locale: "en-US",
      timezoneId: "America/New_York",
      acceptDownloads: true,
      timeout: 60_000,
    });
  } catch (err) {
    console.error(`Chromium (${CHROMIUM}) could not be launched: ${err.message}`);
    process.exit(1);
  }
}

// ------------------------------------------------------------------ helpers

const loaded = (page) => page.evaluate(() => Number(document.body.dataset.loaded || 0));

/** Runs `action` and waits until the page has finished one more load. */
async function andWait(page, action) {
  const before = await loaded(page);
  await action();
  await page.waitForFunction((n) => Number(document.body.dataset.loaded || 0) > n, before, {
    timeout: TIMEOUT,
  });
}

const rowIds = (page) => page.$$eval("#rows tr", (rows) => rows.map((r) => r.dataset.id));
const firstDescription = (page) =>
  page.$eval("#rows tr:first-child .col-description", (td) => td.textContent);

/** The rows shown are exactly `expect.ids` (in order), capped at one page. */
async function assertRows(page, expect, shown = Math.min(expect.count, want.page_size)) {
  const ids = await rowIds(page);
  assert.equal(ids.length, shown, `${step}: row count`);
  assert.deepEqual(ids, expect.ids.slice(0, shown), `${step}: rows, newest first`);
  assert.equal(await firstDescription(page), expect.first_description, `${step}: first description`);
  const more = await page.isVisible("#load-more");
  assert.equal(more, shown < expect.count, `${step}: "Load more" shown only while more match`);
  assert.equal(await page.isVisible("#empty"), false, `${step}: no empty state`);
  assert.equal(await page.isVisible("#problem"), false, `${step}: no error`);
}

// -------------------------------------------------------------------- test

async function run(context) {
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) pageErrors.push(msg.text());
  });

  step = "the page and its headers";
  const response = await page.goto(`${base}/activity`);
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.match(headers["content-type"], /^text\/html/);
  assert.match(headers["content-security-policy"], /default-src 'self'/);
  assert.equal(headers["x-content-type-options"], "nosniff");
  await page.waitForSelector("#key-input", { state: "visible", timeout: TIMEOUT });
  assert.equal(await page.isVisible("#log-panel"), false, "the log waits for a key");
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-key.png") });
  log(step);

  step = "a wrong key is refused on the key form";
  await andWait(page, async () => {
    await page.fill("#key-input", want.bad_key);
    await page.press("#key-input", "Enter");
  });
  await page.waitForSelector("#key-error", { state: "visible", timeout: TIMEOUT });
  assert.match(await page.textContent("#key-error"), /invalid or has been revoked/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused key is not kept");
  log(step);

  step = "first page after entering the admin key";
  await andWait(page, async () => {
    await page.fill("#key-input", adminKey);
    await page.click("#key-form button[type=submit]");
  });
  await assertRows(page, want.all);
  assert.equal(
    await page.evaluate(() => sessionStorage.getItem("audit-log.api-key")),
    adminKey,
    "the key is kept in sessionStorage",
  );
  const groupOptions = await page.$$eval("#group option", (os) => os.map((o) => o.value));
  assert.deepEqual(groupOptions, ["", "models", "chains", "environments", "credentials", "users", "audit_log"]);
  const systemRows = await page.$$eval("#rows .badge-system", (bs) => bs.map((b) => b.textContent));
  assert.equal(systemRows.length, want.first_page_system, "system events say System");
  assert.ok(systemRows.every((t) => t === "System"));
  // The newest event's resource name is markup: it must show as text.
  const first = page.locator("#rows tr").first();
  assert.equal(await first.locator(".resource-name").textContent(), want.newest.resource_name);
  assert.equal(await page.locator("#rows b, #rows i, #detail-json b").count(), 0, "no injected markup");
  const time = first.locator("time");
  assert.equal(await time.getAttribute("title"), want.newest.utc_title, "UTC time on hover");
  const local = await page.evaluate(
    (iso) =>
      new Intl.DateTimeFormat("en-US", {
        timeZone: "America/New_York",
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }).format(new Date(iso)),
    await time.getAttribute("datetime"),
  );
  assert.equal(await time.textContent(), local, "time in the viewer's zone");
  assert.match(await page.textContent("#status"), new RegExp(`Showing the ${want.page_size} newest events`));
  await page.screenshot({ path: screenshot });
  log(`${step} (${want.page_size} rows; screenshot ${screenshot})`);

  step = "filter by a group";
  await andWait(page, () => page.selectOption("#group", want.group.slug));
  await assertRows(page, want.group.expect);
  const groups = await page.$$eval("#rows tr", (rows) => rows.map((r) => r.dataset.group));
  assert.ok(groups.every((g) => g === want.group.slug), `${step}: only ${want.group.slug}`);
  const labels = await page.$$eval("#rows .group", (bs) => bs.map((b) => b.textContent));
  assert.ok(labels.every((l) => l === want.group.label), `${step}: group label`);
  assert.match(page.url(), /[?&]group=credentials/);
  log(`${step} (${want.group.expect.count} rows)`);

  step = "search a word";
  await andWait(page, () => page.selectOption("#group", ""));
  await andWait(page, async () => {
    await page.fill("#q", want.search.word);
    await page.press("#q", "Enter");
  });
  await assertRows(page, want.search.expect);
  log(`${step} (${want.search.expect.count} rows)`);

  step = "narrow a date range";
  await andWait(page, () => page.fill("#from", want.dates.from));
  await andWait(page, () => page.fill("#to", want.dates.to));
  await assertRows(page, want.dates.expect);
  log(`${step} (${want.dates.expect.count} rows, ${want.dates.from} to ${want.dates.to})`);

  step = "open an entry";
  const opener = page.locator("#rows tr:first-child .col-description button");
  await opener.click();
  await page.waitForSelector("#detail[open]", { timeout: TIMEOUT });
  const shown = JSON.parse(await page.textContent("#detail-json"));
  assert.equal(shown.id, want.dates.expect.ids[0], `${step}: the detail is that event`);
  assert.equal(shown.description, want.dates.expect.first_description);
  assert.ok(shown.metadata && shown.context && shown.resource, `${step}: full JSON`);
  assert.equal(await page.textContent("#detail-title"), want.dates.expect.first_description);
  assert.ok((await page.textContent("#detail-facts")).includes(shown.context.request_id));
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-detail.png") });
  await page.keyboard.press("Escape");
  await page.waitForSelector("#detail", { state: "hidden", timeout: TIMEOUT });
  assert.equal(
    await page.evaluate(() => document.activeElement?.closest("tr")?.dataset.id),
    want.dates.expect.ids[0],
    `${step}: focus returns to the row`,
  );
  log(`${step} (${shown.id}; Escape closes it)`);

  step = "filter by a user";
  await andWait(page, () => page.click("#clear-filters"));
  await assertRows(page, want.all);
  await andWait(page, async () => {
    await page.fill("#actor", want.user.id);
    await page.press("#actor", "Enter");
  });
  await assertRows(page, want.user.expect);
  const actors = await page.$$eval("#rows .actor-name", (as) => as.map((a) => a.textContent));
  assert.deepEqual(actors, Array(want.user.expect.count).fill(want.user.name), `${step}: only that user`);
  log(`${step} (${want.user.expect.count} rows)`);

  step = "download CSV and NDJSON of the current filter";
  for (const [button, ext] of [
    ["#download-csv", "csv"],
    ["#download-ndjson", "ndjson"],
  ]) {
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: TIMEOUT }), page.click(button)]);
    assert.match(download.suggestedFilename(), new RegExp(`^audit-log-.*\\.${ext}$`));
    const file = await download.path();
    const lines = readFileSync(file, "utf8").split(ext === "csv" ? "\r\n" : "\n").filter((l) => l !== "");
    if (ext === "csv") {
      assert.match(lines[0], /^id,occurred_at,/);
      assert.deepEqual(
        lines.slice(1).map((l) => l.split(",")[0]),
        want.user.expect.ids,
        `${step}: CSV rows`,
      );
    } else {
      const events = lines.map((l) => JSON.parse(l));
      assert.deepEqual(events.map((e) => e.id), want.user.expect.ids, `${step}: NDJSON lines`);
      assert.ok(events.every((e) => e.actor.id === want.user.id));
    }
  }
  log(`${step} (${want.user.expect.count} events each)`);

  step = "load more";
  await andWait(page, () => page.click("#clear-filters"));
  await assertRows(page, want.all);
  let expectedRows = want.page_size;
  while (await page.isVisible("#load-more")) {
    await andWait(page, () => page.click("#load-more"));
    expectedRows = Math.min(expectedRows + want.page_size, want.all.count);
    await assertRows(page, want.all, expectedRows);
  }
  assert.equal(expectedRows, want.all.count);
  assert.deepEqual(await rowIds(page), want.all.ids, `${step}: every event once, newest first`);
  assert.match(await page.textContent("#status"), new RegExp(`Showing all ${want.all.count} matching events`));
  log(`${step} (${want.page_size} -> ${want.all.count} rows)`);

  step = "the key survives a reload of the tab";
  await page.reload();
  // A new document: its load counter starts again from 0.
  await page.waitForFunction(() => Number(document.body.dataset.loaded || 0) > 0, null, { timeout: TIMEOUT });
  await assertRows(page, want.all);
  assert.equal(await page.isVisible("#key-panel"), false);
  log(step);

  step = "a malformed search shows the problem's detail";
  await andWait(page, async () => {
    await page.fill("#q", "colour:red");
    await page.press("#q", "Enter");
  });
  assert.equal(await page.isVisible("#problem"), true);
  assert.match(await page.textContent("#problem-detail"), /unknown qualifier "colour:" at position 0/);
  assert.equal((await rowIds(page)).length, 0);
  log(step);

  step = "an empty result says so";
  await andWait(page, async () => {
    await page.fill("#q", "nothing-matches-this");
    await page.press("#q", "Enter");
  });
  assert.equal(await page.isVisible("#empty"), true);
  assert.equal(await page.textContent("#empty"), "No events match these filters");
  assert.equal(await page.isVisible("#problem"), false);
  log(step);

  step = "forget the key";
  await page.click("#forget-key");
  await page.waitForSelector("#key-input", { state: "visible", timeout: TIMEOUT });
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.equal(await page.inputValue("#q"), "", "filters are cleared with the key");
  assert.equal(new URL(page.url()).search, "");
  log(step);

  step = "a member of an org with teams is told why";
  await andWait(page, async () => {
    await page.fill("#key-input", want.member_key);
    await page.press("#key-input", "Enter");
  });
  assert.equal(await page.isVisible("#problem"), true);
  assert.equal(await page.getAttribute("#problem", "role"), "alert");
  assert.match(await page.textContent("#problem-detail"), /only Organization Admins can view the activity log/);
  assert.equal((await rowIds(page)).length, 0);
  assert.equal(await page.isVisible("#filters"), false, "nothing to filter");
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-forbidden.png") });
  log(step);

  assert.deepEqual(pageErrors, [], "no script errors or CSP violations");
}

const context = await launch();
try {
  await run(context);
  console.log("activity page: every step passed");
} catch (err) {
  console.error(`FAILED at step "${step}": ${err.stack || err}`);
  try {
    const page = context.pages()[0];
    if (page) {
      const failure = screenshot.replace(/\.png$/, "-failure.png");
      mkdirSync(dirname(failure), { recursive: true });
      await page.screenshot({ path: failure, fullPage: true });
      console.error(`screenshot of the failure: ${failure}`);
    }
  } catch (_) {
    // The failure itself is what matters.
  }
  process.exitCode = 1;
} finally {
  await context.close().catch(() => {});
  if (!process.env.ACTIVITY_PROFILE_DIR) rmSync(profile, { recursive: true, force: true });
}
