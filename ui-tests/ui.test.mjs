// End-to-end tests of the web UI: the real `tasktrail` binary (embedded mode, fresh SQLite
// directory) and Debian's Chromium, headless, driven by playwright-core. Run by scripts/ui-test.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");
const binary = process.env.TASKTRAIL_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, "target"), "debug/tasktrail");
const screenshots = join(repo, "docs/screenshots");
const TIMEOUT = 10_000;
// axe-core (Deque's accessibility rules), pinned in package.json; run on every view.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let server;
let base;
let browser;
let dataDir;

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tasktrail-ui-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dataDir, "--signup-limit", "1000", "--reminder-scan-interval", "1s"], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    assert.ok(Date.now() < deadline, `tasktrail did not start (${binary})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A fresh browser context and page that records console errors and page errors. */
async function openPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-US", timezoneId: "UTC", ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("console", (message) => {
    // A 401 on purpose (an expired token) is logged by the browser as a failed resource.
    if (message.type() === "error" && !message.text().includes("401")) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  await page.goto(base);
  return { context, page, problems };
}

/** Runs axe-core on what the page shows now and fails on any violation, naming each. */
async function assertAccessible(page, view) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern: the policy
  // under test stays exactly as served.
  await page.evaluate(axeSource);
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const found = violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(found, [], `axe-core finds accessibility problems on ${view}`);
}

let emails = 0;
async function signUp(page) {
  const email = `ui${Date.now()}${emails++}@example.com`;
  await page.getByRole("button", { name: "Create an account instead" }).click();
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Tasks" }).waitFor();
  const session = JSON.parse(await page.evaluate(() => sessionStorage.getItem("tasktrail.session")));
  return { email, userId: session.userId, token: session.token };
}

async function rest(user, method, path, body) {
  const response = await fetch(`${base}/api/${user.userId}${path}`, {
    method,
    headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
  return response.status === 204 ? null : response.json();
}

/** YYYY-MM-DD of today plus `days`, in UTC (the pages' time zone unless a test says otherwise). */
const utcDay = (days) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
/** YYYY-MM-DD of today in a time zone. */
const dayIn = (timeZone) => new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
/** How the UI writes a plain date: "Jan 31, 2030". */
const shownDate = (day) => new Date(`${day}T12:00:00Z`).toLocaleDateString("en-US", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const plusDays = (day, days) => new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

const taskRow = (page, title) => page.locator("[data-task-list] li.task", { hasText: title });
const eventTypes = (page) => page.locator("[data-events] .event .badge").allTextContents();

async function waitForEvents(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll("[data-events] .event").length >= n, count, { timeout: TIMEOUT });
}

test("sign up, create, edit, complete and delete a task; the audit page shows the four events in order", async () => {
  const { context, page, problems } = await openPage();
  await page.getByRole("heading", { name: "Sign in to tasktrail" }).waitFor();
  await assertAccessible(page, "the sign-in page");
  await page.screenshot({ path: join(screenshots, "sign-in.png") });
  await page.getByRole("button", { name: "Create an account instead" }).click();
  await page.getByRole("heading", { name: "Create your tasktrail account" }).waitFor();
  await page.getByLabel("Email", { exact: true }).fill("someone@example.com");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("The password needs at least 8 characters.").waitFor();
  await assertAccessible(page, "the sign-up page with an error");
  await page.getByRole("button", { name: "I have an account" }).click();
  await signUp(page);
  await page.getByText("No tasks yet").waitFor();

  await page.getByLabel("New task").fill("buy milk");
  await page.keyboard.press("Enter");
  await taskRow(page, "buy milk").waitFor();

  // Errors appear next to what caused them.
  await page.getByLabel("New task").fill("");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByText("Give the task a title.").waitFor();

  // One edit: the title inline, and the description, priority and due date beside it.
  await page.getByRole("button", { name: "Edit “buy milk”" }).click();
  await page.getByLabel("New title for “buy milk”").fill("buy oat milk");
  await page.getByLabel("Description of “buy milk”").fill("2 litres");
  await page.getByLabel("Priority of “buy milk”").selectOption("high");
  await page.getByLabel("Due date of “buy milk”").fill("2030-01-31");
  await page.getByLabel("New title for “buy milk”").press("Enter");
  await taskRow(page, "buy oat milk").waitFor();
  assert.match(await taskRow(page, "buy oat milk").textContent(), /2 litres.*high priority.*due Jan 31, 2030/);

  // click, not check(): the list is drawn anew with this box named "Reopen …", and check()
  // would look for the old name to confirm.
  await page.getByRole("checkbox", { name: "Complete “buy oat milk”" }).click();
  await page.getByRole("checkbox", { name: "Reopen “buy oat milk”" }).waitFor();
  assert.match(await taskRow(page, "buy oat milk").getAttribute("class"), /done/);

  await page.getByRole("button", { name: "Delete “buy oat milk”" }).click();
  await page.getByRole("group", { name: "Confirm delete" }).getByRole("button", { name: "Delete" }).click();
  await page.getByText("No tasks yet").waitFor();

  await page.getByRole("link", { name: "Audit trail" }).click();
  await waitForEvents(page, 4);
  assert.deepEqual(await eventTypes(page), ["created", "updated", "completed", "deleted"]);
  const updated = page.locator('[data-events] .event[data-event-type="updated"]');
  assert.match(await updated.textContent(), /title: buy milk → buy oat milk; description: — → 2 litres; priority: medium → high; due_date: — → 2030-01-31/);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a chat message adds a task that appears in the list and in the trail", async () => {
  const { context, page, problems } = await openPage();
  await signUp(page);
  await page.getByLabel("New task").fill("walk the dog");
  await page.keyboard.press("Enter");
  await taskRow(page, "walk the dog").waitFor();

  await page.getByLabel("Message the assistant").fill("add buy milk");
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant", { hasText: "Added" }).waitFor();
  await page.locator(".chip", { hasText: "created “buy milk”" }).waitFor();
  await taskRow(page, "buy milk").waitFor();
  assert.match(await page.locator(".message.assistant").first().textContent(), /offline assistant/);
  await page.getByLabel("Message the assistant").fill("complete walk the dog");
  await page.keyboard.press("Enter");
  await page.locator(".chip", { hasText: "completed “walk the dog”" }).waitFor();
  await page.getByRole("checkbox", { name: "Reopen “walk the dog”" }).waitFor();
  await page.getByLabel("Conversation", { exact: true }).locator("option", { hasText: "add buy milk" }).waitFor({ state: "attached" });
  await assertAccessible(page, "the tasks and the chat");
  // The README's picture shows what a task can carry: priority, due date, repetition and tags.
  const user = JSON.parse(await page.evaluate(() => sessionStorage.getItem("tasktrail.session")));
  await rest(user, "POST", "/tasks", { title: "renew passport", priority: "high", tags: ["admin", "travel"], due_date: "2026-01-15" });
  await rest(user, "POST", "/tasks", { title: "water the plants", priority: "low", tags: ["home"], due_date: utcDay(0), recurrence: "every 3 days" });
  await rest(user, "POST", "/tasks", { title: "team sync notes", tags: ["work"], due_date: "2030-02-04T09:00:00Z", recurrence: "weekly", remind_before_minutes: 30 });
  await page.getByRole("checkbox", { name: "Complete “buy milk”" }).focus();
  await page.keyboard.press("Space");
  await taskRow(page, "team sync notes").waitFor();
  await page.getByRole("checkbox", { name: "Reopen “buy milk”" }).waitFor();
  await assertAccessible(page, "the tasks with their details");
  await page.screenshot({ path: join(screenshots, "tasks-and-chat.png") });

  // The keyboard shortcut A opens the audit trail (when no field has the focus).
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press("a");
  await waitForEvents(page, 7);
  assert.deepEqual(await eventTypes(page), ["created", "created", "completed", "created", "created", "created", "completed"]);
  assert.match(await page.locator("[data-events] .event").nth(1).textContent(), /buy milk/);
  await assertAccessible(page, "the audit trail");
  assert.deepEqual(problems, []);
  await context.close();
});

test("the event-type and task filters narrow the trail", async () => {
  const { context, page, problems } = await openPage();
  const user = await signUp(page);
  const first = await rest(user, "POST", "/tasks", { title: "first" });
  const second = await rest(user, "POST", "/tasks", { title: "second" });
  await rest(user, "PATCH", `/tasks/${first.id}/complete`);
  await rest(user, "PUT", `/tasks/${second.id}`, { title: "second, renamed" });

  await page.getByRole("link", { name: "Audit trail" }).click();
  await waitForEvents(page, 4);
  await page.getByLabel("Created").uncheck();
  await page.getByLabel("Updated").uncheck();
  await page.waitForFunction(() => document.querySelectorAll("[data-events] .event").length === 1);
  assert.deepEqual(await eventTypes(page), ["completed"]);

  await page.getByLabel("Created").check();
  await page.getByLabel("Updated").check();
  await page.getByLabel("Task id").fill(String(second.id));
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForFunction(() => document.querySelectorAll("[data-events] .event").length === 2);
  assert.deepEqual(await eventTypes(page), ["created", "updated"]);

  await page.getByLabel("Task id").fill("abc");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByText("A task id is a number").waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test("a change made through the REST API appears on an open audit page without a reload", async () => {
  const { context, page, problems } = await openPage({ colorScheme: "dark" });
  const user = await signUp(page);
  await rest(user, "POST", "/tasks", { title: "already there" });
  await page.getByRole("link", { name: "Audit trail" }).click();
  await waitForEvents(page, 1);
  await page.evaluate(() => (window.stillTheSamePage = true));

  // Streamed: each change is on the page within moments of its answer (polling every 2 s, it
  // took a second on average).
  const started = Date.now();
  const task = await rest(user, "POST", "/tasks", { title: "made elsewhere" });
  await waitForEvents(page, 2);
  const first = Date.now() - started;
  const completing = Date.now();
  await rest(user, "PATCH", `/tasks/${task.id}/complete`);
  await waitForEvents(page, 3);
  const second = Date.now() - completing;
  assert.ok(first < 500 && second < 500, `changes took ${first} ms and ${second} ms to appear`);
  assert.deepEqual(await eventTypes(page), ["created", "created", "completed"]);
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true, "no reload happened");
  await page.locator("[data-events] details summary").first().click();
  await assertAccessible(page, "the audit trail in dark mode");
  await page.locator("[data-events] details summary").first().click();
  await page.screenshot({ path: join(screenshots, "audit-trail-dark.png"), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

test("when the live trail's stream fails the audit page polls, and takes the stream again once it is back", async () => {
  const { context, page, problems } = await openPage();
  const user = await signUp(page);
  let refuse = true;
  await page.route("**/audit/stream*", (route) => (refuse ? route.abort() : route.continue()));
  await rest(user, "POST", "/tasks", { title: "before" });
  await page.getByRole("link", { name: "Audit trail" }).click();
  await waitForEvents(page, 1);

  await rest(user, "POST", "/tasks", { title: "while the stream is down" });
  await waitForEvents(page, 2);

  refuse = false;
  await page.waitForResponse((response) => response.url().includes("/audit/stream") && response.status() === 200, { timeout: 40_000 });
  const polls = [];
  page.on("request", (request) => {
    if (/\/audit\?/.test(request.url())) polls.push(request.url());
  });
  const started = Date.now();
  await rest(user, "POST", "/tasks", { title: "streamed again" });
  await waitForEvents(page, 3);
  assert.ok(Date.now() - started < 500, `took ${Date.now() - started} ms`);
  await page.waitForTimeout(2500);
  assert.deepEqual(polls, [], "no polling while the stream is up");
  assert.deepEqual(
    (await page.locator("[data-events] .event .what > div").allTextContents()).map((t) => /“(.*)”/.exec(t)[1]),
    ["before", "while the stream is down", "streamed again"],
    "each once, in order",
  );
  // The refused connections, which the browser logs.
  assert.deepEqual(problems.filter((p) => !p.includes("net::ERR_FAILED")), []);
  await context.close();
});

test("the notifications page lists a completion's email and its switch turns completion emails off", async () => {
  const { context, page, problems } = await openPage();
  const user = await signUp(page);
  const first = await rest(user, "POST", "/tasks", { title: "tell me when done" });
  await rest(user, "PATCH", `/tasks/${first.id}/complete`);
  await page.getByRole("link", { name: "Notifications" }).click();
  await page.getByRole("heading", { name: "Notifications" }).waitFor();
  // No SMTP server here: the email goes to the server's log, and the page says so.
  const logged = page.locator('[data-notifications] [data-status="logged"]', { hasText: "tell me when done" });
  await logged.waitFor();
  assert.match(await logged.textContent(), new RegExp(`written to the server log.*to ${user.email}`));

  const box = page.getByLabel("Email me when one of my tasks is completed");
  assert.equal(await box.isChecked(), true, "on by default");
  await box.uncheck();
  await page.getByText("Completion emails are off.").waitFor();
  assert.deepEqual(await rest(user, "GET", "/preferences"), { completion_emails: false }, "saved on the server");

  // A completion made elsewhere shows up without a reload, as skipped.
  const second = await rest(user, "POST", "/tasks", { title: "keep it quiet" });
  await rest(user, "PATCH", `/tasks/${second.id}/complete`);
  await page.locator('[data-notifications] [data-status="skipped"]', { hasText: "keep it quiet" }).waitFor();
  assert.equal(await page.locator("[data-notifications] .event").count(), 2);
  await assertAccessible(page, "the notifications page");

  await page.reload();
  await page.getByRole("heading", { name: "Notifications" }).waitFor();
  await page.locator("[data-notifications] .event").nth(1).waitFor();
  assert.equal(await page.getByLabel("Email me when one of my tasks is completed").isChecked(), false, "still off after a reload");
  assert.deepEqual(problems, []);
  await context.close();
});

test("priority badges, tags, due dates and repetition are shown, edited and filtered by", async () => {
  // West of UTC, where a plain due date (stored as midnight UTC) is easily shown a day early; and
  // before 10 pm there, so that "11 pm today" below is still to come while the test runs (at 11 pm
  // in Los Angeles it is 2 am in New York).
  const hourIn = (timeZone) => Number(new Intl.DateTimeFormat("en-US", { timeZone, hour: "numeric", hourCycle: "h23" }).format(new Date()));
  const zone = ["America/Los_Angeles", "America/New_York"].find((candidate) => hourIn(candidate) < 22);
  const { context, page, problems } = await openPage({ timezoneId: zone });
  const user = await signUp(page);
  const today = dayIn(zone);
  await rest(user, "POST", "/tasks", { title: "renew passport", priority: "high", tags: ["admin", "travel"], due_date: "2020-01-15" });
  // 11 pm there today: due today, not overdue, wherever the server's clock is in that day.
  const offset = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" }).formatToParts(new Date()).find((p) => p.type === "timeZoneName").value;
  const [, sign, hours] = /GMT([+-])(\d+)/.exec(offset);
  await rest(user, "POST", "/tasks", { title: "water the plants", priority: "low", tags: ["home"], due_date: `${today}T23:00:00${sign}${hours.padStart(2, "0")}:00` });
  await rest(user, "POST", "/tasks", { title: "plan the trip", tags: ["travel"], due_date: "2030-01-31" });
  await page.reload();
  await taskRow(page, "plan the trip").waitFor();

  const passport = taskRow(page, "renew passport");
  assert.equal(await passport.locator(".badge.priority").textContent(), "high priority");
  const overdue = passport.locator("time.due");
  assert.equal(await overdue.textContent(), "overdue: due Jan 15, 2020");
  assert.equal(await overdue.evaluate((node) => getComputedStyle(node).color), "rgb(180, 35, 24)", "overdue is red");
  assert.equal(await taskRow(page, "water the plants").locator("time.due").textContent(), "due today at 11:00 PM");
  assert.equal(await taskRow(page, "plan the trip").locator("time.due").textContent(), "due Jan 31, 2030", "the day as it was set, not the day before");
  assert.equal(await taskRow(page, "plan the trip").locator(".badge.priority").count(), 0, "medium, the default, has no badge");
  assert.deepEqual(await passport.locator("button.tag").allTextContents(), ["admin", "travel"]);
  await assertAccessible(page, "the tasks with priorities, tags and due dates");

  // A tag chip filters the list, from the keyboard too; the filter says what it is and clears.
  const titles = () => page.locator("[data-task-list] li.task .title").allTextContents();
  await passport.getByRole("button", { name: "travel: show only tasks tagged travel" }).focus();
  await page.keyboard.press("Enter");
  await page.getByText("Tagged travel").waitFor();
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 2);
  assert.deepEqual((await titles()).sort(), ["plan the trip", "renew passport"]);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Show all tags", "the keyboard is not lost");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 3);
  assert.equal(await page.getByText("Tagged travel").isVisible(), false);

  await page.getByLabel("Priority", { exact: true }).selectOption("high");
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 1);
  assert.deepEqual(await titles(), ["renew passport"]);
  await page.getByLabel("Priority", { exact: true }).selectOption("");
  await page.getByLabel("Due", { exact: true }).selectOption("overdue");
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 1);
  assert.deepEqual(await titles(), ["renew passport"]);
  await page.getByLabel("Due", { exact: true }).selectOption("");
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 3);

  // Edit tags, priority and a repetition rule with the small control; the API gets the rule text.
  const trip = await rest(user, "GET", "/tasks?q=plan");
  await page.getByRole("button", { name: "Edit “plan the trip”" }).click();
  await page.getByLabel("Tags (comma-separated) of “plan the trip”").fill("travel, family , travel");
  await page.getByLabel("Priority of “plan the trip”").selectOption("low");
  await page.getByLabel("Repeats: “plan the trip”").selectOption("every");
  await page.getByLabel("Every how many").fill("400");
  await assertAccessible(page, "a task being edited");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Repeat every 1 to 365 days, weeks or months.").waitFor();
  assert.equal((await rest(user, "GET", `/tasks/${trip[0].id}`)).recurrence, null, "nothing saved");
  await page.getByLabel("Every how many").fill("2");
  await page.getByLabel("Days, weeks or months").selectOption("weeks");
  await page.getByLabel("Repeat until (optional)").fill("2030-06-30");
  await page.getByRole("button", { name: "Save" }).click();
  await taskRow(page, "every 2 weeks until 2030-06-30").waitFor();
  const saved = await rest(user, "GET", `/tasks/${trip[0].id}`);
  assert.equal(saved.recurrence, "every 2 weeks until 2030-06-30");
  assert.deepEqual(saved.tags, ["travel", "family"]);
  assert.equal(saved.priority, "low");
  assert.equal(saved.due_date, "2030-01-31T00:00:00Z", "an untouched due date stays a plain date");
  assert.deepEqual(await taskRow(page, "plan the trip").locator("button.tag").allTextContents(), ["travel", "family"]);
  assert.match(await taskRow(page, "plan the trip").textContent(), /low priority.*due Jan 31, 2030.*repeats every 2 weeks until 2030-06-30/);

  // Every 1 months is monthly; "does not repeat" clears the rule.
  await page.getByRole("button", { name: "Edit “plan the trip”" }).click();
  assert.equal(await page.getByLabel("Every how many").inputValue(), "2", "the control opens on the saved rule");
  await page.getByLabel("Every how many").fill("1");
  await page.getByLabel("Days, weeks or months").selectOption("months");
  await page.getByLabel("Repeat until (optional)").fill("");
  await page.getByLabel("New title for “plan the trip”").press("Enter");
  await taskRow(page, "repeats monthly").waitFor();
  assert.equal((await rest(user, "GET", `/tasks/${trip[0].id}`)).recurrence, "monthly");
  await page.getByRole("button", { name: "Edit “plan the trip”" }).click();
  await page.getByLabel("Repeats: “plan the trip”").selectOption("never");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction(() => !document.querySelector("[data-task-list] .repeats"));
  assert.equal((await rest(user, "GET", `/tasks/${trip[0].id}`)).recurrence, null);

  // Filters do not outlive the session: whoever signs in next on this tab sees the whole list.
  await page.getByRole("button", { name: "home: show only tasks tagged home" }).click();
  await page.getByText("Tagged home").waitFor();
  await page.getByLabel("Priority", { exact: true }).selectOption("low");
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 1);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email", { exact: true }).fill(user.email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll("[data-task-list] li.task").length === 3);
  assert.equal(await page.getByLabel("Priority", { exact: true }).inputValue(), "");
  assert.equal(await page.getByText("Tagged home").isVisible(), false);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a weekly task completed in the UI is followed by its next occurrence, due a week later, without a reload", async () => {
  const { context, page, problems } = await openPage();
  const user = await signUp(page);
  // The audit trail open beside it, in a second tab of the same session.
  const trail = await context.newPage();
  await trail.addInitScript((session) => sessionStorage.setItem("tasktrail.session", session), JSON.stringify({ token: user.token, userId: user.userId, email: user.email }));
  await trail.goto(`${base}/#/audit`);
  await trail.getByRole("heading", { name: "Audit trail" }).waitFor();

  await page.getByLabel("New task").fill("water the ferns");
  await page.keyboard.press("Enter");
  await page.getByRole("button", { name: "Edit “water the ferns”" }).click();
  const due = utcDay(3);
  await page.getByLabel("Due date of “water the ferns”").fill(due);
  await page.getByLabel("Repeats: “water the ferns”").selectOption("weekly");
  await page.getByRole("button", { name: "Save" }).click();
  await taskRow(page, "repeats weekly").waitFor();
  assert.equal(await taskRow(page, "water the ferns").locator("time.due").textContent(), `due ${shownDate(due)}`);
  await page.evaluate(() => (window.stillTheSamePage = true));

  // click, not check(): the list is drawn anew with this box named "Reopen …", and check()
  // would look for the old name to confirm.
  await page.getByRole("checkbox", { name: "Complete “water the ferns”" }).click();
  await page.getByRole("checkbox", { name: "Reopen “water the ferns”" }).waitFor();
  const next = page.locator("[data-task-list] li.task:not(.done)", { hasText: "water the ferns" });
  const nextDue = plusDays(due, 7);
  assert.equal(await next.locator("time.due").textContent(), `due ${shownDate(nextDue)}`);
  assert.match(await next.textContent(), /repeats weekly/);
  await page.getByText(`The next “water the ferns” is due ${shownDate(nextDue)}.`).waitFor();
  assert.equal(await page.locator("[data-task-list] li.task").count(), 2);
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true, "no reload happened");
  const tasks = await rest(user, "GET", "/tasks?status=pending");
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0].due_date, `${nextDue}T00:00:00Z`);

  // Both events reach the open audit page by themselves: the completion, then the new occurrence.
  await trail.waitForFunction(() => document.querySelectorAll("[data-events] .event").length >= 4, null, { timeout: TIMEOUT });
  assert.deepEqual(await eventTypes(trail), ["created", "updated", "completed", "created"]);
  const first = await rest(user, "GET", `/tasks/${tasks[0].continues}`);
  assert.equal(first.continued_by, tasks[0].id);
  assert.match(await trail.locator("[data-events] .event").nth(1).textContent(), new RegExp(`recurrence: — → weekly`));
  assert.match(
    await trail.locator("[data-events] .event").nth(3).textContent(),
    new RegExp(`Task ${tasks[0].id}: “water the ferns”.*the next occurrence of task ${first.id}, due ${nextDue}T00:00:00Z`),
  );
  assert.deepEqual(problems, []);
  await context.close();
});

test("a reminder set in the UI is shown on the task, and its email is listed once it comes due", async () => {
  const { context, page, problems } = await openPage();
  const user = await signUp(page);
  const task = await rest(user, "POST", "/tasks", { title: "call mum", due_date: "2030-01-31T18:00:00Z" });
  await page.reload();
  await taskRow(page, "call mum").waitFor();
  const edit = () => page.getByRole("button", { name: "Edit “call mum”" }).click();

  // One day before the due date: the API keeps it relative.
  await edit();
  await page.getByLabel("Reminder: “call mum”").selectOption("before");
  await page.getByLabel("How long before").fill("1");
  await page.getByLabel("Minutes, hours or days before").selectOption("days");
  await assertAccessible(page, "a task's reminder being edited");
  await page.getByRole("button", { name: "Save" }).click();
  await taskRow(page, "reminder 1 day before").waitFor();
  let saved = await rest(user, "GET", `/tasks/${task.id}`);
  assert.equal(saved.remind_before_minutes, 1440);
  assert.equal(saved.remind_at, "2030-01-30T18:00:00Z");

  // More than 30 days before is refused in the form; after the due date by the API: nothing saved.
  await edit();
  assert.equal(await page.getByLabel("How long before").inputValue(), "1", "the control opens on the saved reminder");
  await page.getByLabel("How long before").fill("31");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("A reminder goes 1 minute to 30 days before the due date.").waitFor();
  await page.getByLabel("Reminder: “call mum”").selectOption("at");
  await page.getByLabel("Remind me at").fill("2030-02-01T09:00");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("[data-task-list] form .error", { hasText: "remind_at" }).waitFor();
  assert.equal((await rest(user, "GET", `/tasks/${task.id}`)).remind_before_minutes, 1440, "unchanged");

  // At a time (the page's zone is UTC): the current minute, so that it goes out at once.
  const now = new Date().toISOString().slice(0, 16);
  await page.getByLabel("Remind me at").fill(now);
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction(() => !document.querySelector("[data-task-list] form"));
  saved = await rest(user, "GET", `/tasks/${task.id}`);
  assert.equal(saved.remind_before_minutes, null);
  assert.equal(saved.remind_at, `${now}:00Z`);

  await page.getByRole("link", { name: "Notifications" }).click();
  const reminder = page.locator("[data-notifications] .event", { hasText: "Reminder" });
  await reminder.waitFor();
  assert.match(await reminder.textContent(), new RegExp(`Reminder: task ${task.id}, “call mum”, due Jan 31, 2030, 06:00 PM.*written to the server log`));
  await assertAccessible(page, "the notifications page with a reminder");
  await page.getByRole("link", { name: "Tasks", exact: true }).click();
  await taskRow(page, "reminded").waitFor();
  // The one refusal asked for above, which the browser logs as a failed resource.
  assert.deepEqual(problems, ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]);
  await context.close();
});

test("the API reference page renders the OpenAPI document under a strict CSP, from the binary alone", async () => {
  const first = await fetch(`${base}/docs`);
  const second = await fetch(`${base}/docs`);
  const policy = first.headers.get("content-security-policy");
  assert.match(policy, /script-src 'self';/);
  assert.match(policy, /style-src 'self' 'nonce-[0-9a-f]{32}';/);
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|https?:/);
  assert.notEqual(policy, second.headers.get("content-security-policy"), "a fresh nonce per response");
  const nonce = policy.match(/'nonce-([0-9a-f]+)'/)[1];
  assert.match(await first.text(), new RegExp(`<meta property="csp-nonce" content="${nonce}">`));

  const { context, page, problems } = await openPage();
  const external = [];
  page.on("response", (response) => {
    if (!response.url().startsWith(base) && !response.url().startsWith("data:")) external.push(response.url());
  });
  await signUp(page);
  await page.getByRole("link", { name: "API reference" }).click();
  await page.waitForURL(`${base}/docs`);
  await page.getByRole("heading", { name: /^tasktrail/ }).waitFor();
  await assertAccessible(page, "the API reference's overview");
  await page.getByRole("navigation", { name: "API sections" }).getByText("tasks", { exact: true }).click();
  await page.getByText("/api/{user_id}/tasks/{id}/complete").first().waitFor();
  await assertAccessible(page, "the API reference's tasks");
  await page.getByText("/api/{user_id}/tasks/{id}/complete").first().click();
  await page.getByRole("heading", { name: "Responses" }).first().waitFor();
  await assertAccessible(page, "an operation in the API reference");
  await page.setViewportSize({ width: 390, height: 844 });
  await assertAccessible(page, "the API reference at a phone's width");
  // Redoc's "API docs by" logo is on a CDN: the policy refuses it, and nothing else is refused.
  const refused = problems.filter((p) => !p.includes("https://cdn.redoc.ly/redoc/logo-mini"));
  assert.deepEqual(refused, []);
  assert.deepEqual(external, [], "nothing was fetched from outside");
  await page.getByRole("link", { name: "tasktrail, back to your tasks" }).click();
  await page.getByRole("heading", { name: "Tasks" }).waitFor();
  await context.close();

  // Redoc follows the system's dark preference.
  const dark = await openPage({ colorScheme: "dark" });
  await dark.page.goto(`${base}/docs`);
  await dark.page.getByRole("heading", { name: /^tasktrail/ }).waitFor();
  assert.equal(await dark.page.evaluate(() => document.documentElement.className), "dark");
  await assertAccessible(dark.page, "the API reference in dark mode");
  await dark.page.getByRole("navigation", { name: "API sections" }).getByText("tasks", { exact: true }).click();
  await dark.page.getByText("/api/{user_id}/tasks/{id}/complete").first().click();
  await dark.page.getByRole("heading", { name: "Responses" }).first().waitFor();
  await assertAccessible(dark.page, "an operation in the API reference in dark mode");
  await dark.page.goto(`${base}/docs#/no/such/page`);
  await dark.page.getByText("404").first().waitFor();
  await assertAccessible(dark.page, "the API reference's not-found page in dark mode");
  assert.deepEqual(dark.problems.filter((p) => !p.includes("https://cdn.redoc.ly/redoc/logo-mini")), []);
  await dark.context.close();
});

test("at a phone's width everything fits and works", async () => {
  const { context, page, problems } = await openPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await signUp(page);
  const user = JSON.parse(await page.evaluate(() => sessionStorage.getItem("tasktrail.session")));
  await rest(user, "POST", "/tasks", { title: "call the plumber about the kitchen sink", priority: "high", tags: ["home", "urgent"], due_date: utcDay(0) });
  await page.reload();
  await taskRow(page, "call the plumber").waitFor();
  assert.match(await taskRow(page, "call the plumber").textContent(), /high priority\s*due today/);
  await page.getByLabel("Message the assistant").fill("add pay rent");
  await page.keyboard.press("Enter");
  await taskRow(page, "pay rent").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await assertAccessible(page, "the tasks at a phone's width");
  await page.screenshot({ path: join(screenshots, "phone.png"), fullPage: true });
  await page.getByRole("button", { name: "Edit “pay rent”" }).click();
  await page.getByLabel("Repeats: “pay rent”").selectOption("every");
  const editOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(editOverflow <= 0, `the edit form scrolls sideways by ${editOverflow}px`);
  await assertAccessible(page, "a task being edited at a phone's width");
  await page.keyboard.press("Escape");
  await page.getByRole("checkbox", { name: "Complete “pay rent”" }).waitFor();
  await page.getByRole("link", { name: "Audit trail" }).click();
  await waitForEvents(page, 2);
  const auditOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(auditOverflow <= 0, `the audit page scrolls sideways by ${auditOverflow}px`);
  assert.deepEqual(problems, []);
  await context.close();
});

test("an expired session sends the user back to sign in with a message", async () => {
  const { context, page, problems } = await openPage();
  await signUp(page);
  await page.evaluate(() => {
    const session = JSON.parse(sessionStorage.getItem("tasktrail.session"));
    // A token the server no longer accepts (as after expiry or a secret rotation).
    session.token = session.token.slice(0, -4) + "AAAA";
    sessionStorage.setItem("tasktrail.session", JSON.stringify(session));
  });
  await page.reload();
  await page.getByText("Your session has expired. Please sign in again.").waitFor();
  await page.getByRole("heading", { name: "Sign in to tasktrail" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("tasktrail.session")), null);
  assert.deepEqual(problems, []);
  await context.close();
});
