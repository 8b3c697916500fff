// tasktrail's web UI: plain ES modules, no framework, no build step. It speaks only the public
// HTTP API (docs/api.md): tasks, chat, and the audit trail (which in distributed mode the api
// passes on to the audit service, so the UI needs one origin).

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const SESSION_KEY = "tasktrail.session";
const AUDIT_POLL_MS = 2000;
const CHANGE_TOOLS = new Set(["add_task", "complete_task", "delete_task", "update_task"]);

const state = {
  session: null, // {token, userId, email}
  tasks: [],
  filter: { status: "all", q: "", sort: "created", priority: "", tag: "", due: "" },
  conversationId: "",
  audit: { events: [], seen: new Set(), cursor: null, tail: null, caughtUp: false, types: [], task: "", timer: null, loading: false },
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---------------------------------------------------------------- session

function tokenExpiry(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

function loadSession() {
  const raw = sessionStorage.getItem(SESSION_KEY) ?? localStorage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const session = JSON.parse(raw);
    const expiry = tokenExpiry(session.token);
    if (expiry && expiry <= Date.now()) {
      clearSession();
      showAuthNotice("Your session has expired. Please sign in again.");
      return null;
    }
    return session;
  } catch {
    clearSession();
    return null;
  }
}

// The token lives for the tab only, unless the user asks to stay signed in on this device.
function saveSession(session, remember) {
  clearSession();
  (remember ? localStorage : sessionStorage).setItem(SESSION_KEY, JSON.stringify(session));
  state.session = session;
}

function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
  localStorage.removeItem(SESSION_KEY);
  state.session = null;
}

function expireSession(message) {
  clearSession();
  stopLive();
  showAuthNotice(message);
  location.hash = "#/signin";
  route();
}

function showAuthNotice(message) {
  const notice = $("[data-auth-notice]");
  notice.textContent = message;
  notice.hidden = !message;
}

// ---------------------------------------------------------------- HTTP

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (state.session) init.headers.authorization = `Bearer ${state.session.token}`;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "Cannot reach tasktrail. Check your connection and try again.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (response.status === 401 && state.session) {
    expireSession("Your session has expired. Please sign in again.");
    throw new ApiError(401, "unauthorized", "Your session has expired.");
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || "error", error.message || `The server answered ${response.status}.`);
  }
  return data;
}

const userPath = (rest) => `/api/${encodeURIComponent(state.session.userId)}${rest}`;

// ---------------------------------------------------------------- small helpers

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setError(selector, message) {
  const node = typeof selector === "string" ? $(selector) : selector;
  node.textContent = message || "";
}

let toastTimer = null;
function toast(message) {
  const node = $("[data-toast]");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 4000);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const formatTime = (iso) =>
  new Date(iso).toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

// ---------------------------------------------------------------- routing

function route() {
  const hash = location.hash || "#/tasks";
  const signedIn = Boolean(state.session);
  const view = !signedIn ? "auth" : hash.startsWith("#/audit") ? "audit" : hash.startsWith("#/notifications") ? "notifications" : "tasks";
  for (const section of $$("[data-view]")) section.hidden = section.dataset.view !== view;
  $(".nav").hidden = !signedIn;
  $(".account").hidden = !signedIn;
  for (const link of $$("[data-nav]")) {
    if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view !== "audit") stopLive();
  if (view !== "notifications") stopNotificationPolling();
  if (!signedIn) {
    document.title = "Sign in · tasktrail";
    $("#auth-email").focus();
    return;
  }
  $("[data-who]").textContent = state.session.email || state.session.userId;
  if (view === "tasks") {
    document.title = "Tasks · tasktrail";
    loadTasks();
    loadConversations();
  } else if (view === "notifications") {
    document.title = "Notifications · tasktrail";
    startNotifications();
  } else {
    document.title = "Audit trail · tasktrail";
    startAudit();
  }
}

// ---------------------------------------------------------------- sign in / sign up

let signingUp = false;

function setAuthMode(signup) {
  signingUp = signup;
  $("#auth-title").textContent = signup ? "Create your tasktrail account" : "Sign in to tasktrail";
  $("[data-auth-submit]").textContent = signup ? "Create account" : "Sign in";
  $('[data-action="toggle-auth"]').textContent = signup ? "I have an account" : "Create an account instead";
  $("#auth-password").setAttribute("autocomplete", signup ? "new-password" : "current-password");
  setError("[data-auth-error]", "");
}

async function submitAuth(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !email.includes("@")) return setError("[data-auth-error]", "Enter your email address.");
  if (password.length < 8) return setError("[data-auth-error]", "The password needs at least 8 characters.");
  const button = $("[data-auth-submit]");
  button.disabled = true;
  try {
    const answer = await api("POST", signingUp ? "/api/auth/signup" : "/api/auth/login", { email, password });
    saveSession({ token: answer.token, userId: answer.user_id, email }, form.remember.checked);
    form.reset();
    showAuthNotice("");
    setError("[data-auth-error]", "");
    location.hash = "#/tasks";
    route();
  } catch (error) {
    setError("[data-auth-error]", error.message);
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  clearSession();
  stopLive();
  // The next person to sign in on this tab starts from the whole list.
  state.filter = { status: "all", q: "", sort: "created", priority: "", tag: "", due: "" };
  $('input[name="status"][value="all"]').checked = true;
  for (const control of [$("[data-task-sort]"), $("[data-task-priority]"), $("[data-task-due]")]) control.selectedIndex = 0;
  $("[data-task-search]").value = "";
  state.conversationId = "";
  $("[data-messages]").replaceChildren();
  showAuthNotice("You are signed out.");
  location.hash = "#/signin";
  route();
}

// ---------------------------------------------------------------- tasks

async function loadTasks() {
  const { status, sort, q, priority, tag, due } = state.filter;
  const params = new URLSearchParams({ status, sort });
  if (q) params.set("q", q);
  if (priority) params.set("priority", priority);
  if (tag) params.set("tag", tag);
  if (due) params.set("due", due);
  try {
    state.tasks = await api("GET", userPath(`/tasks?${params}`));
    setError("[data-tasks-error]", "");
    renderTasks();
  } catch (error) {
    if (error.status !== 401) setError("[data-tasks-error]", error.message);
  }
}

function renderTasks() {
  const list = $("[data-task-list]");
  list.replaceChildren(...state.tasks.map(taskItem));
  const empty = $("[data-task-empty]");
  const { status, q, priority, tag, due } = state.filter;
  const filtered = status !== "all" || q || priority || tag || due;
  empty.hidden = state.tasks.length > 0;
  empty.textContent = filtered ? "No tasks match these filters." : "No tasks yet. Add your first one above, or ask the assistant.";
  const pending = state.tasks.filter((t) => !t.completed).length;
  $("[data-task-count]").textContent = state.tasks.length ? `${pending} pending of ${state.tasks.length}` : "";
  $("[data-tag-filter]").hidden = !tag;
  $("[data-tag-filter-name]").textContent = tag;
}

function setTagFilter(tag) {
  state.filter.tag = tag;
  loadTasks().then(() => {
    // The chip that was clicked is gone with the old list: keep the keyboard somewhere useful.
    (tag ? $('[data-action="clear-tag"]') : $("#task-search")).focus();
  });
}

// ------------------------------------------------ due dates

// The API keeps a due date as an instant; a plain date (what the date field sends) is stored
// as midnight UTC. Such a date means the whole of that day: shown as that calendar date in
// every time zone, and overdue only once the day is over.
const isDateOnly = (iso) => /T00:00:00(\.0+)?(Z|\+00:00)$/.test(iso);
const pad = (n) => String(n).padStart(2, "0");
const localDay = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;

function dueInfo(task, now = new Date()) {
  if (!task.due_date) return null;
  const at = new Date(task.due_date);
  const dateOnly = isDateOnly(task.due_date);
  const day = dateOnly ? task.due_date.slice(0, 10) : localDay(at);
  const today = localDay(now);
  const overdue = !task.completed && (dateOnly ? day < today : at < now);
  const isToday = day === today;
  const dateText = dateOnly
    ? new Date(`${day}T12:00:00`).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" })
    : at.toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  const timeText = dateOnly ? "" : ` at ${at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`;
  let text = `due ${dateText}`;
  if (overdue) text = `overdue: due ${isToday ? `today${timeText}` : dateText}`;
  else if (isToday && !task.completed) text = `due today${timeText}`;
  return { text, overdue, today: isToday && !overdue && !task.completed, datetime: task.due_date, day };
}

// ------------------------------------------------ recurrence rules (docs/api.md)

const RULE = /^(?:(daily|weekly|monthly)|every (\d+) (days|weeks|months))(?: until (\d{4}-\d{2}-\d{2}))?$/;
const SIMPLE = { days: "daily", weeks: "weekly", months: "monthly" };

/** `weekly until 2027-03-01` -> {kind: "weekly", every: 1, unit: "weeks", until: "2027-03-01"}. */
function parseRule(rule) {
  const match = rule ? RULE.exec(rule) : null;
  if (!match) return { kind: rule ? "other" : "never", every: 2, unit: "weeks", until: "", text: rule || "" };
  const [, simple, every, unit, until] = match;
  return simple
    ? { kind: simple, every: 1, unit: Object.keys(SIMPLE).find((u) => SIMPLE[u] === simple), until: until ?? "" }
    : { kind: "every", every: Number(every), unit, until: until ?? "" };
}

/** The canonical rule text for the control's values, or an error message. */
function buildRule({ kind, every, unit, until }) {
  if (kind === "never") return { rule: null };
  let rule = kind;
  if (kind === "every") {
    const n = Number(every);
    if (!Number.isInteger(n) || n < 1 || n > 365) return { error: "Repeat every 1 to 365 days, weeks or months." };
    rule = n === 1 ? SIMPLE[unit] : `every ${n} ${unit}`;
  }
  if (until) rule += ` until ${until}`;
  return { rule };
}

function recurrenceControl(task) {
  const current = parseRule(task.recurrence);
  const id = `repeat-${task.id}`;
  const kind = el("select", { id, "aria-label": `Repeats: “${task.title}”` },
    [["never", "Does not repeat"], ["daily", "Daily"], ["weekly", "Weekly"], ["monthly", "Monthly"], ["every", "Every…"]].map(([value, text]) =>
      el("option", { value, text, selected: value === current.kind })),
    current.kind === "other" ? el("option", { value: "other", text: current.text, selected: true }) : null);
  const every = el("input", { type: "number", min: "1", max: "365", step: "1", inputmode: "numeric", value: String(current.every), "aria-label": "Every how many", class: "every" });
  const unit = el("select", { "aria-label": "Days, weeks or months" },
    ["days", "weeks", "months"].map((u) => el("option", { value: u, text: u, selected: u === current.unit })));
  const until = el("input", { type: "date", value: current.until, "aria-label": "Repeat until (optional)" });
  const everyGroup = el("span", { class: "every-group" }, every, unit);
  const untilGroup = el("label", { class: "until" }, "until ", until);
  kind.addEventListener("change", () => {
    // "Every 1 weeks" is just weekly: offer the next step up when switching to a custom interval.
    if (kind.value === "every" && every.value === "1") every.value = "2";
  });
  const sync = () => {
    everyGroup.hidden = kind.value !== "every";
    untilGroup.hidden = kind.value === "never" || kind.value === "other";
  };
  kind.addEventListener("change", sync);
  sync();
  const node = el("div", { class: "field repeat" }, el("label", { for: id, text: "Repeats" }), el("div", { class: "repeat-controls" }, kind, everyGroup, untilGroup));
  const value = () => (kind.value === "other" ? { rule: task.recurrence } : buildRule({ kind: kind.value, every: every.value, unit: unit.value, until: until.value }));
  return { node, value };
}

// ------------------------------------------------ reminders (docs/api.md, "Reminders")

const UNITS = { minutes: 1, hours: 60, days: 1440 };
const MAX_REMIND_BEFORE = 43_200; // 30 days, in minutes

function beforeText(minutes) {
  const [unit, n] = minutes % 1440 === 0 ? ["day", minutes / 1440] : minutes % 60 === 0 ? ["hour", minutes / 60] : ["minute", minutes];
  return `${n} ${unit}${n === 1 ? "" : "s"} before`;
}

const shortTime = (iso) => new Date(iso).toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });

function reminderText(task) {
  if (!task.remind_at) return "";
  if (task.reminded_at) return `reminded ${shortTime(task.reminded_at)}`;
  return task.remind_before_minutes ? `reminder ${beforeText(task.remind_before_minutes)}` : `reminder ${shortTime(task.remind_at)}`;
}

/** `datetime-local`'s value (local time, to the minute) for an instant. */
function localInputValue(iso) {
  const d = new Date(iso);
  return `${localDay(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function reminderControl(task) {
  const id = `remind-${task.id}`;
  const relative = task.remind_before_minutes;
  const kindNow = relative ? "before" : task.remind_at ? "at" : "none";
  const kind = el("select", { id, "aria-label": `Reminder: “${task.title}”` },
    [["none", "No reminder"], ["before", "Before it is due…"], ["at", "At a time…"]].map(([value, text]) => el("option", { value, text, selected: value === kindNow })));
  const unitNow = !relative ? "minutes" : relative % 1440 === 0 ? "days" : relative % 60 === 0 ? "hours" : "minutes";
  const amount = el("input", { type: "number", min: "1", step: "1", inputmode: "numeric", class: "every", value: String(relative ? relative / UNITS[unitNow] : 30), "aria-label": "How long before" });
  const unit = el("select", { "aria-label": "Minutes, hours or days before" }, Object.keys(UNITS).map((u) => el("option", { value: u, text: `${u} before`, selected: u === unitNow })));
  const at = el("input", { type: "datetime-local", "aria-label": "Remind me at", value: task.remind_at && !relative ? localInputValue(task.remind_at) : "" });
  const beforeGroup = el("span", { class: "every-group" }, amount, unit);
  const sync = () => {
    beforeGroup.hidden = kind.value !== "before";
    at.hidden = kind.value !== "at";
  };
  kind.addEventListener("change", sync);
  sync();
  const node = el("div", { class: "field repeat" }, el("label", { for: id, text: "Reminder" }), el("div", { class: "repeat-controls" }, kind, beforeGroup, at));
  /** The fields to send ({} for no change), or an error message. */
  const changes = () => {
    if (kind.value === "none") return task.remind_at ? { changes: { remind_at: null } } : { changes: {} };
    if (kind.value === "before") {
      const n = Number(amount.value);
      const minutes = n * UNITS[unit.value];
      if (!Number.isInteger(n) || n < 1 || minutes > MAX_REMIND_BEFORE) return { error: "A reminder goes 1 minute to 30 days before the due date." };
      return minutes === relative ? { changes: {} } : { changes: { remind_before_minutes: minutes } };
    }
    if (!at.value) return { error: "Pick when to be reminded." };
    const when = new Date(at.value).toISOString();
    return !relative && task.remind_at && Date.parse(task.remind_at) === Date.parse(when) ? { changes: {} } : { changes: { remind_at: when } };
  };
  return { node, changes };
}

const parseTags = (text) => [...new Set(text.split(",").map((t) => t.trim()).filter(Boolean))];

// ------------------------------------------------ one task

function taskItem(task) {
  const title = el("span", { class: "title", text: task.title, title: "Double-click to edit" });
  title.addEventListener("dblclick", () => editTask(task, item));
  const due = dueInfo(task);
  const details = el(
    "div",
    { class: "details" },
    // Medium is the default: only the exceptions get a badge, so that they stand out.
    task.priority !== "medium" ? el("span", { class: `badge priority ${task.priority}` }, task.priority, el("span", { class: "sr-only", text: " priority" })) : null,
    due ? el("time", { class: `due${due.overdue ? " overdue" : ""}${due.today ? " today" : ""}`, datetime: due.datetime, text: due.text }) : null,
    task.recurrence
      ? el("span", { class: "repeats", title: "Repeats: the next one appears when this is completed" }, el("span", { "aria-hidden": "true", text: "↻ " }), el("span", { class: "sr-only", text: "repeats " }), task.recurrence)
      : null,
    task.remind_at ? el("span", { class: "reminder", text: reminderText(task) }) : null,
    task.tags?.length
      ? el("ul", { class: "tags", "aria-label": "Tags" }, task.tags.map((tag) =>
          el("li", {}, el("button", {
            type: "button",
            class: `tag${tag === state.filter.tag ? " active" : ""}`,
            "aria-label": `${tag}: show only tasks tagged ${tag}`,
            "aria-pressed": tag === state.filter.tag ? "true" : "false",
            text: tag,
            onclick: () => setTagFilter(tag === state.filter.tag ? "" : tag),
          }))))
      : null,
  );
  const item = el(
    "li",
    { class: `task${task.completed ? " done" : ""}`, "data-task-id": task.id },
    el("input", {
      type: "checkbox",
      checked: task.completed,
      "aria-label": `${task.completed ? "Reopen" : "Complete"} “${task.title}”`,
      onchange: () => toggleTask(task),
    }),
    el("div", { class: "body" }, title, task.description ? el("span", { class: "meta", text: task.description }) : null, details),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "icon", "aria-label": `Edit “${task.title}”`, text: "Edit", onclick: () => editTask(task, item) }),
      el("button", { type: "button", class: "icon", "aria-label": `Delete “${task.title}”`, text: "Delete", onclick: () => confirmDelete(task, item) }),
    ),
  );
  return item;
}

async function addTask(event) {
  event.preventDefault();
  const input = $("#new-task");
  const title = input.value.trim();
  if (!title) return setError("[data-new-task-error]", "Give the task a title.");
  try {
    await api("POST", userPath("/tasks"), { title });
    input.value = "";
    setError("[data-new-task-error]", "");
    await loadTasks();
  } catch (error) {
    setError("[data-new-task-error]", error.message);
  }
}

function focusTask(id) {
  $(`[data-task-list] [data-task-id="${id}"] input[type="checkbox"]`)?.focus();
}

async function toggleTask(task) {
  try {
    const done = await api("PATCH", userPath(`/tasks/${task.id}/complete`));
    await loadTasks();
    focusTask(task.id);
    // A recurring task's completion made the next occurrence (listed by the reload above).
    if (done?.completed && done.continued_by) {
      const next = state.tasks.find((t) => t.id === done.continued_by);
      const due = next && dueInfo(next);
      toast(`Done. The next “${task.title}” is ${due ? due.text : "on your list"}.`);
    }
  } catch (error) {
    setError("[data-tasks-error]", error.message);
    await loadTasks();
  }
}

function field(label, control) {
  const id = `field-${crypto.randomUUID()}`;
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text: label }), control);
}

function editTask(task, item) {
  const label = (what) => `${what} of “${task.title}”`;
  const title = el("input", { value: task.title, "aria-label": `New title for “${task.title}”`, maxlength: "200" });
  const description = el("textarea", { "aria-label": label("Description"), maxlength: "1000", rows: "2" });
  description.value = task.description || "";
  const priority = el("select", { "aria-label": label("Priority") },
    ["low", "medium", "high"].map((p) => el("option", { value: p, text: `${p} priority`, selected: p === task.priority })));
  const dueBefore = task.due_date ? dueInfo(task) : null;
  // A due date with a time of day is edited in local time; a plain date stays a plain date.
  const timeBefore = task.due_date && !isDateOnly(task.due_date) ? new Date(task.due_date).toTimeString().slice(0, 5) : "";
  const due = el("input", { type: "date", "aria-label": label("Due date"), value: dueBefore ? dueBefore.day : "" });
  const time = el("input", { type: "time", "aria-label": label("Due time (optional)"), value: timeBefore });
  const tags = el("input", { "aria-label": label("Tags (comma-separated)"), value: (task.tags || []).join(", "), autocomplete: "off", placeholder: "e.g. home, errands" });
  const repeat = recurrenceControl(task);
  const reminder = reminderControl(task);
  const error = el("p", { class: "error", role: "alert" });
  const cancel = () => {
    item.replaceWith(taskItem(task));
    focusTask(task.id);
  };
  const form = el(
    "form",
    {
      class: "edit",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const changes = {};
        if (title.value.trim() !== task.title) changes.title = title.value.trim();
        if (description.value.trim() !== (task.description || "")) changes.description = description.value.trim();
        if (priority.value !== task.priority) changes.priority = priority.value;
        if (due.value !== (dueBefore ? dueBefore.day : "") || time.value !== timeBefore) {
          if (!due.value && time.value) return setError(error, "Pick a day for the due time.");
          changes.due_date = !due.value ? null : time.value ? new Date(`${due.value}T${time.value}`).toISOString() : due.value;
        }
        const newTags = parseTags(tags.value);
        if (JSON.stringify(newTags) !== JSON.stringify(task.tags || [])) changes.tags = newTags;
        const rule = repeat.value();
        if (rule.error) return setError(error, rule.error);
        if (rule.rule !== (task.recurrence ?? null)) changes.recurrence = rule.rule;
        const remind = reminder.changes();
        if (remind.error) return setError(error, remind.error);
        Object.assign(changes, remind.changes);
        if (changes.title === "") return setError(error, "The title cannot be empty.");
        if (!Object.keys(changes).length) return cancel();
        try {
          await api("PUT", userPath(`/tasks/${task.id}`), changes);
          await loadTasks();
          focusTask(task.id);
        } catch (failure) {
          setError(error, failure.message);
        }
      },
    },
    title,
    el("button", { type: "submit", class: "primary", text: "Save" }),
    el("button", { type: "button", class: "ghost", text: "Cancel", onclick: cancel }),
    el(
      "div",
      { class: "more" },
      field("Description", description),
      field("Priority", priority),
      field("Due date", due),
      field("Due time (optional)", time),
      field("Tags (comma-separated)", tags),
      repeat.node,
      reminder.node,
    ),
    error,
  );
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") cancel();
  });
  title.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  item.replaceChildren(el("span"), form, el("span"));
  title.focus();
  title.select();
}

function confirmDelete(task, item) {
  const keep = el("button", { type: "button", class: "ghost", text: "Keep it", onclick: () => item.replaceWith(taskItem(task)) });
  const remove = el("button", {
    type: "button",
    class: "danger",
    text: "Delete",
    onclick: async () => {
      try {
        await api("DELETE", userPath(`/tasks/${task.id}`));
        toast(`Deleted “${task.title}”.`);
        await loadTasks();
      } catch (error) {
        setError("[data-tasks-error]", error.message);
      }
    },
  });
  item.replaceChildren(el("span"), el("div", { class: "confirm", role: "group", "aria-label": "Confirm delete" }, `Delete “${task.title}”?`, remove, keep), el("span"));
  keep.focus();
}

// ---------------------------------------------------------------- chat

async function loadConversations() {
  try {
    const { conversations } = await api("GET", userPath("/conversations"));
    const select = $("[data-conversation]");
    select.replaceChildren(
      el("option", { value: "", text: "New conversation" }),
      ...conversations.map((c) => el("option", { value: c.id, text: c.title, selected: c.id === state.conversationId })),
    );
  } catch (error) {
    if (error.status !== 401) setError("[data-chat-error]", error.message);
  }
}

async function openConversation(id) {
  state.conversationId = id;
  const log = $("[data-messages]");
  log.replaceChildren();
  setError("[data-chat-error]", "");
  if (!id) return;
  try {
    const { messages } = await api("GET", userPath(`/conversations/${encodeURIComponent(id)}/messages`));
    log.replaceChildren(...messages.map((m) => messageItem(m.role, m.content, m.tool_calls)));
    log.scrollTop = log.scrollHeight;
  } catch (error) {
    setError("[data-chat-error]", error.message);
  }
}

function chipText(call) {
  const r = call.result || {};
  if (r.error) return [`${call.tool.replace("_", " ")} failed: ${r.error}`, true];
  switch (call.tool) {
    case "add_task": return [`created “${r.title}”`, false];
    case "complete_task": return [r.status === "already_completed" ? `“${r.title}” already done` : `completed “${r.title}”`, false];
    case "delete_task": return [`deleted “${r.title}”`, false];
    case "update_task": return [`updated “${r.title}”`, false];
    case "search_tasks": return [`searched: ${Array.isArray(r) ? r.length : 0} found`, false];
    default: return [`listed ${Array.isArray(r) ? r.length : 0} tasks`, false];
  }
}

function messageItem(role, content, toolCalls = []) {
  const chips = toolCalls.length
    ? el("ul", { class: "chips", "aria-label": "What the assistant did" }, toolCalls.map((call) => {
        const [text, failed] = chipText(call);
        return el("li", { class: `chip${failed ? " failed" : ""}`, text });
      }))
    : null;
  return el("div", { class: `message ${role}` }, el("span", { class: "sr-only", text: role === "user" ? "You: " : "Assistant: " }), content, chips);
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("#chat-input");
  const message = input.value.trim();
  if (!message) return setError("[data-chat-error]", "Type a message first.");
  const log = $("[data-messages]");
  const button = $("[data-chat-send]");
  log.append(messageItem("user", message));
  const pending = el("div", { class: "message assistant pending", text: "Thinking…" });
  log.append(pending);
  log.scrollTop = log.scrollHeight;
  input.value = "";
  button.disabled = true;
  setError("[data-chat-error]", "");
  const body = { message };
  if (state.conversationId) body.conversation_id = state.conversationId;
  try {
    // A key per message: should this request be sent twice, the server answers it once.
    const reply = await api("POST", userPath("/chat"), body, { "Idempotency-Key": crypto.randomUUID() });
    pending.replaceWith(messageItem("assistant", reply.response, reply.tool_calls));
    const isNew = state.conversationId !== reply.conversation_id;
    state.conversationId = reply.conversation_id;
    if (isNew) await loadConversations();
    if (reply.tool_calls.some((call) => CHANGE_TOOLS.has(call.tool) && !call.result?.error)) await loadTasks();
  } catch (error) {
    pending.remove();
    input.value = message;
    setError("[data-chat-error]", error.message);
  } finally {
    button.disabled = false;
    log.scrollTop = log.scrollHeight;
    input.focus();
  }
}

// ---------------------------------------------------------------- audit trail

function auditParams(extra) {
  const params = new URLSearchParams({ limit: "50", order: "asc", ...extra });
  if (state.audit.types.length && state.audit.types.length < 4) params.set("event_type", state.audit.types.join(","));
  if (state.audit.task) params.set("task_id", state.audit.task);
  return params;
}

function readAuditFilter() {
  const form = $('[data-form="audit-filter"]');
  const task = form.task.value.trim();
  if (task && !/^\d+$/.test(task)) {
    setError("[data-audit-error]", "A task id is a number, e.g. 12.");
    return false;
  }
  state.audit.types = $$('input[name="type"]:checked', form).map((box) => box.value);
  state.audit.task = task;
  setError("[data-audit-error]", "");
  return true;
}

function startAudit() {
  stopLive();
  if (!readAuditFilter()) return;
  Object.assign(state.audit, { events: [], seen: new Set(), cursor: null, tail: null, caughtUp: false });
  $("[data-events]").replaceChildren();
  if (!state.audit.types.length) {
    renderAuditEmpty("Choose at least one event type.");
    return;
  }
  loadAuditPage();
}

async function loadAuditPage() {
  if (state.audit.loading) return;
  state.audit.loading = true;
  try {
    const params = auditParams(state.audit.cursor ? { cursor: state.audit.cursor } : {});
    const page = await api("GET", userPath(`/audit?${params}`));
    addEvents(page.events);
    state.audit.cursor = page.next_cursor;
    state.audit.tail = page.tail_cursor;
    state.audit.caughtUp = !page.next_cursor;
    $('[data-action="audit-more"]').hidden = state.audit.caughtUp;
    setError("[data-audit-error]", "");
  } catch (error) {
    if (error.status !== 401) setError("[data-audit-error]", error.message);
  } finally {
    state.audit.loading = false;
    renderAuditEmpty("No events match these filters yet. Changes you make appear here by themselves.");
  }
  // Once the last page is shown, follow the trail live.
  if (state.audit.caughtUp && !live.controller && !live.retryTimer && $('[data-view="audit"]').hidden === false) openStream();
}

// Live updates: once the last page is shown, the page reads the trail's stream (server-sent
// events, read with fetch since EventSource cannot send the token), which delivers each entry the
// moment it is stored. Should the stream fail, it asks every 2 s for what has been stored since
// (the poll below) and tries the stream again, backing off. Both resume from the same tail
// cursor, which follows the order entries were stored in, so an event that arrives late (with an
// older timestamp) still shows up, and none is shown twice.
const STREAM_RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];
const live = { controller: null, retryTimer: null, failures: 0 };

function stopLive() {
  live.controller?.abort();
  live.controller = null;
  clearTimeout(live.retryTimer);
  live.retryTimer = null;
  live.failures = 0;
  stopAuditPolling();
}

async function openStream() {
  live.retryTimer = null;
  if (!state.session || !state.audit.caughtUp) return;
  const controller = new AbortController();
  live.controller = controller;
  const params = auditParams({});
  for (const key of ["limit", "order"]) params.delete(key);
  const headers = { authorization: `Bearer ${state.session.token}`, accept: "text/event-stream" };
  // With no tail yet (nothing shown), everything matching from the start: the trail is empty
  // for these filters, or was a moment ago.
  if (state.audit.tail) params.set("cursor", state.audit.tail);
  else headers["last-event-id"] = "0";
  try {
    const response = await fetch(userPath(`/audit/stream?${params}`), { headers, signal: controller.signal });
    if (response.status === 401) return expireSession("Your session has expired. Please sign in again.");
    if (!response.ok || !response.body) throw new Error(`the stream answered ${response.status}`);
    live.failures = 0;
    stopAuditPolling();
    $("[data-live]").classList.remove("paused");
    await readStream(response.body);
  } catch {
    // refused, cut, or aborted: see below
  }
  if (controller.signal.aborted || live.controller !== controller) return;
  // The stream ended (its token expired, the server restarted) or failed: poll meanwhile, and
  // try again (a reconnection with an expired token signs the user out above).
  live.controller = null;
  if (!state.audit.timer) startAuditPolling();
  live.retryTimer = setTimeout(openStream, STREAM_RETRY_MS[Math.min(live.failures++, STREAM_RETRY_MS.length - 1)]);
}

async function readStream(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      streamFrame(frame);
    }
  }
}

function streamFrame(frame) {
  let type = "message";
  let id = null;
  const data = [];
  for (const line of frame.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue; // a heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (type !== "audit" || !data.length) return;
  const entry = JSON.parse(data.join("\n"));
  addEvents([entry]);
  state.audit.tail = id ?? String(entry.id);
  renderAuditEmpty("No events match these filters yet. Changes you make appear here by themselves.");
}

// The fallback while the stream is down.
async function pollAudit() {
  if (!state.session || document.hidden || !state.audit.caughtUp || state.audit.loading || !state.audit.types.length) return;
  const params = auditParams(state.audit.tail ? { cursor: state.audit.tail, limit: "200" } : { limit: "200" });
  try {
    const page = await api("GET", userPath(`/audit?${params}`));
    addEvents(page.events);
    if (page.tail_cursor) state.audit.tail = page.tail_cursor;
    $("[data-live]").classList.remove("paused");
    renderAuditEmpty("No events match these filters yet. Changes you make appear here by themselves.");
  } catch {
    $("[data-live]").classList.add("paused");
  }
}

function startAuditPolling() {
  stopAuditPolling();
  state.audit.timer = setInterval(pollAudit, AUDIT_POLL_MS);
}

function stopAuditPolling() {
  clearInterval(state.audit.timer);
  state.audit.timer = null;
}

function renderAuditEmpty(message) {
  const empty = $("[data-events-empty]");
  empty.textContent = message;
  empty.hidden = state.audit.events.length > 0;
}

function addEvents(events) {
  const list = $("[data-events]");
  for (const event of events) {
    if (state.audit.seen.has(event.id)) continue;
    state.audit.seen.add(event.id);
    const previous = state.audit.events.findLast((e) => e.task_id === event.task_id);
    state.audit.events.push(event);
    list.append(eventItem(event, previous));
  }
}

const FIELDS = ["title", "description", "completed", "priority", "tags", "due_date", "recurrence"];

function show(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "—";
  return String(value);
}

function changeSummary(event, previous) {
  const data = event.event_data.task_data || {};
  if (event.event_type === "created") {
    const parts = [];
    if (data.continues) parts.push(`the next occurrence of task ${data.continues}${data.due_date ? `, due ${show(data.due_date)}` : ""}`);
    if (data.description) parts.push(`description: ${data.description}`);
    return parts.length ? [el("span", { text: parts.join("; ") })] : [];
  }
  if (event.event_type === "deleted") return [el("span", { text: "removed; its last state is below" })];
  if (!previous) return [el("span", { text: "earlier state not shown (outside these filters or pages)" })];
  const before = previous.event_data.task_data || {};
  const changes = FIELDS.filter((f) => JSON.stringify(before[f] ?? null) !== JSON.stringify(data[f] ?? null));
  if (!changes.length) return [el("span", { text: "no visible change" })];
  return changes.flatMap((field, i) => [
    i ? "; " : "",
    `${field}: `,
    el("del", { text: show(before[field]) }),
    " → ",
    el("ins", { text: show(data[field]) }),
  ]);
}

function eventItem(event, previous) {
  const data = event.event_data.task_data || {};
  return el(
    "li",
    { class: "event", "data-event-type": event.event_type, "data-event-id": event.event_id },
    el("time", { datetime: event.timestamp, text: formatTime(event.timestamp) }),
    el("span", { class: `badge ${event.event_type}`, text: event.event_type }),
    el(
      "div",
      { class: "what" },
      el(
        "div",
        {},
        `Task ${event.task_id}: “${data.title ?? ""}”`,
        el("span", { class: "muted", text: ` · by ${state.session.email || "you"}${data.sequence ? ` · your change #${data.sequence}` : ""}` }),
      ),
      el("p", { class: "change" }, changeSummary(event, previous)),
      el("details", {}, el("summary", { text: "Event data" }), el("pre", { text: JSON.stringify(event.event_data, null, 2) })),
    ),
  );
}

// ---------------------------------------------------------------- notifications

const notifications = { seen: new Set(), cursor: null, timer: null };

async function startNotifications() {
  notifications.seen = new Set();
  notifications.cursor = null;
  $("[data-notifications]").replaceChildren();
  setError("[data-notifications-error]", "");
  loadPreferences();
  await loadNotificationPage(false);
  stopNotificationPolling();
  notifications.timer = setInterval(() => loadNotificationPage(true), AUDIT_POLL_MS);
}

function stopNotificationPolling() {
  clearInterval(notifications.timer);
  notifications.timer = null;
}

async function loadPreferences() {
  const box = $("[data-completion-emails]");
  const note = $("[data-preferences-note]");
  try {
    const preferences = await api("GET", userPath("/preferences"));
    box.checked = preferences.completion_emails;
    box.disabled = false;
    note.textContent = "";
  } catch (error) {
    box.disabled = true;
    note.textContent = error.status === 404 ? "Your account is managed elsewhere: there is no address to email." : "";
    if (error.status !== 404 && error.status !== 401) setError("[data-notifications-error]", error.message);
  }
}

async function savePreferences(event) {
  const box = event.target;
  box.disabled = true;
  try {
    const saved = await api("PUT", userPath("/preferences"), { completion_emails: box.checked });
    box.checked = saved.completion_emails;
    toast(saved.completion_emails ? "Completion emails are on." : "Completion emails are off.");
  } catch (error) {
    box.checked = !box.checked;
    if (error.status !== 401) setError("[data-notifications-error]", error.message);
  } finally {
    box.disabled = false;
  }
}

// `fresh`: the newest page again (new and updated notifications replace what is shown);
// otherwise the next older page.
async function loadNotificationPage(fresh) {
  if (!state.session || (fresh && document.hidden)) return;
  const params = new URLSearchParams({ limit: "50" });
  if (!fresh && notifications.cursor) params.set("cursor", notifications.cursor);
  try {
    const page = await api("GET", userPath(`/notifications?${params}`));
    const list = $("[data-notifications]");
    for (const item of page.notifications) {
      const row = notificationItem(item);
      const shown = list.querySelector(`[data-notification-id="${item.id}"]`);
      if (shown) shown.replaceWith(row);
      else if (fresh && notifications.seen.size) list.prepend(row);
      else list.append(row);
      notifications.seen.add(item.id);
    }
    if (!fresh || !notifications.cursor) notifications.cursor = page.next_cursor;
    $('[data-action="notifications-more"]').hidden = !notifications.cursor;
    $("[data-notifications-empty]").hidden = notifications.seen.size > 0;
    setError("[data-notifications-error]", "");
  } catch (error) {
    if (error.status !== 401) setError("[data-notifications-error]", error.message);
  }
}

const STATUS_TEXT = {
  pending: "not sent yet: waiting or retrying",
  sent: "emailed",
  logged: "written to the server log (no mail server configured)",
  skipped: "not sent",
  failed: "could not be sent",
};

function notificationItem(item) {
  const to = item.recipient ? ` to ${item.recipient}` : "";
  const detail = item.detail ? ` (${item.detail})` : "";
  return el(
    "li",
    { class: "event", "data-notification-id": String(item.id), "data-status": item.status },
    el("time", { datetime: item.completed_at, text: formatTime(item.completed_at) }),
    el("span", { class: `badge ${item.status}`, text: item.status }),
    el(
      "div",
      { class: "what" },
      el(
        "div",
        {},
        item.kind === "reminder"
          ? `Reminder${item.late ? " (late)" : ""}: task ${item.task_id}, “${item.task_title}”${item.due_date ? `, due ${shortTime(item.due_date)}` : ""}`
          : `Task ${item.task_id}: “${item.task_title}” completed`,
      ),
      el("p", { class: "change", text: `${STATUS_TEXT[item.status] ?? item.status}${to}${detail}` }),
    ),
  );
}

// ---------------------------------------------------------------- wiring

function typingIn(target) {
  return target.closest("input, textarea, select, [contenteditable]");
}

function onShortcut(event) {
  if (!state.session || event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
  const go = (hash, focus) => {
    event.preventDefault();
    if (location.hash !== hash) location.hash = hash;
    if (focus) setTimeout(() => $(focus).focus(), 0);
  };
  switch (event.key) {
    case "n": return go("#/tasks", "#new-task");
    case "/": return go("#/tasks", "#task-search");
    case "c": return go("#/tasks", "#chat-input");
    case "a": return go("#/audit");
    case "t": return go("#/tasks");
  }
}

function init() {
  state.session = loadSession();
  $('[data-form="auth"]').addEventListener("submit", submitAuth);
  $('[data-action="toggle-auth"]').addEventListener("click", () => setAuthMode(!signingUp));
  $('[data-action="signout"]').addEventListener("click", signOut);
  $('[data-form="new-task"]').addEventListener("submit", addTask);
  for (const radio of $$('input[name="status"]')) {
    radio.addEventListener("change", () => {
      state.filter.status = radio.value;
      loadTasks();
    });
  }
  $("[data-task-search]").addEventListener("input", debounce((event) => {
    state.filter.q = event.target.value.trim();
    loadTasks();
  }, 200));
  $("[data-task-sort]").addEventListener("change", (event) => {
    state.filter.sort = event.target.value;
    loadTasks();
  });
  $("[data-task-priority]").addEventListener("change", (event) => {
    state.filter.priority = event.target.value;
    loadTasks();
  });
  $("[data-task-due]").addEventListener("change", (event) => {
    state.filter.due = event.target.value;
    loadTasks();
  });
  $('[data-action="clear-tag"]').addEventListener("click", () => setTagFilter(""));
  $('[data-form="chat"]').addEventListener("submit", sendChat);
  $("[data-conversation]").addEventListener("change", (event) => openConversation(event.target.value));
  $('[data-form="audit-filter"]').addEventListener("submit", (event) => {
    event.preventDefault();
    startAudit();
  });
  for (const box of $$('[data-form="audit-filter"] input[name="type"]')) box.addEventListener("change", startAudit);
  $('[data-action="audit-more"]').addEventListener("click", loadAuditPage);
  $("[data-completion-emails]").addEventListener("change", savePreferences);
  $('[data-action="notifications-more"]').addEventListener("click", () => loadNotificationPage(false));
  document.addEventListener("keydown", onShortcut);
  window.addEventListener("hashchange", route);
  setAuthMode(false);
  route();
}

init();
