// End-to-end tests of the web UI: the real `tasktrail` binary (embedded mode, fresh SQLite
// directory) and Debian's Chromium, headless, driven by playwright-core. Run by scripts/ui-test.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
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
  server = spawn(binary, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dataDir, "--signup-limit", "1000"], {
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
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
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

const taskRow = (page, title) => page.locator("[data-task-list] li.task", { hasText: title });
const eventTypes = (page) => page.locator("[data-events] .event .badge").allTextContents();

async function waitForEvents(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll("[data-events] .event").length >= n, count, { timeout: TIMEOUT });
}

test("sign up, create, edit, complete and delete a task; the audit page shows the four events in order", async () => {
  const { context, page, problems } = await openPage();
  await page.screenshot({ path: join(screenshots, "sign-in.png") });
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
  await taskRow(page, "2 litres · high priority · due").waitFor();
  await taskRow(page, "buy oat milk").waitFor();

  await page.getByRole("checkbox", { name: "Complete “buy oat milk”" }).check();
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
  await page.screenshot({ path: join(screenshots, "tasks-and-chat.png") });

  // The keyboard shortcut A opens the audit trail (when no field has the focus).
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press("a");
  await waitForEvents(page, 3);
  assert.deepEqual(await eventTypes(page), ["created", "created", "completed"]);
  assert.match(await page.locator("[data-events] .event").nth(1).textContent(), /buy milk/);
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

  const task = await rest(user, "POST", "/tasks", { title: "made elsewhere" });
  await rest(user, "PATCH", `/tasks/${task.id}/complete`);
  await waitForEvents(page, 3);
  assert.deepEqual(await eventTypes(page), ["created", "created", "completed"]);
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true, "no reload happened");
  await page.screenshot({ path: join(screenshots, "audit-trail-dark.png"), fullPage: true });
  assert.deepEqual(problems, []);
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

  await page.reload();
  await page.getByRole("heading", { name: "Notifications" }).waitFor();
  await page.locator("[data-notifications] .event").nth(1).waitFor();
  assert.equal(await page.getByLabel("Email me when one of my tasks is completed").isChecked(), false, "still off after a reload");
  assert.deepEqual(problems, []);
  await context.close();
});

test("at a phone's width everything fits and works", async () => {
  const { context, page, problems } = await openPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await signUp(page);
  await page.getByLabel("New task").fill("call the plumber about the kitchen sink");
  await page.keyboard.press("Enter");
  await taskRow(page, "call the plumber").waitFor();
  await page.getByLabel("Message the assistant").fill("add pay rent");
  await page.keyboard.press("Enter");
  await taskRow(page, "pay rent").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await page.screenshot({ path: join(screenshots, "phone.png"), fullPage: true });
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
