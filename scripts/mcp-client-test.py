"""A real MCP client against a running tasktrail: the official Python SDK (PyPI `mcp`), which
nobody here wrote. Run by scripts/check-mcp, which starts the server and installs the SDK.

Usage: mcp-client-test.py BASE_URL EXPECTED_VERSION

Signs a user up through REST, then over streamable HTTP at BASE_URL/mcp with that user's token:
initializes (the server must introduce itself as tasktrail with EXPECTED_VERSION), lists the
six tools, calls each one and checks its result (and, through REST, what it did), sends bad
values (reminders included), ends the session and checks that the server closed it; then connects once more the way
the SDK's `Client` does by default (mode "auto"). Every request's answer and every log record
of the SDK are captured: the sessions must be clean (no warning or error, every answer 2xx).
Prints one `check: ok - ...` or `check: FAILED - ...` line per check; exits 1 on any failure.
"""

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
import uuid

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

base, expected_version = sys.argv[1], sys.argv[2]
failed = False


def ok(sentence):
    print(f"check: ok - {sentence}", flush=True)


def fail(what, why):
    global failed
    failed = True
    print(f"check: FAILED - {what}: {why}", flush=True)


class Check:
    """One check: its assertions, and one line at the end (the first failed assertion, if any)."""

    def __init__(self, what):
        self.what = what
        self.problems = []

    def expect(self, condition, why):
        if not condition:
            self.problems.append(why)
        return condition

    def done(self, sentence):
        if self.problems:
            fail(self.what, "; ".join(self.problems))
        else:
            ok(sentence)


class Records(logging.Handler):
    """Every log record, of the SDK and of the HTTP client under it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


records = Records()
logging.getLogger().addHandler(records)
logging.getLogger().setLevel(logging.DEBUG)
logging.captureWarnings(True)


def rest(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


status, account = rest("POST", "/api/auth/signup", body={"email": f"mcp-{uuid.uuid4().hex[:12]}@example.com", "password": "correct horse battery"})
if status != 201:
    fail("sign-up", f"POST /api/auth/signup answered {status}: {account}")
    sys.exit(1)
user_id, token = account["user_id"], account["token"]


def rest_task(task_id):
    return rest("GET", f"/api/{user_id}/tasks/{task_id}", token)


def rest_tasks():
    status, tasks = rest("GET", f"/api/{user_id}/tasks", token)
    assert status == 200, (status, tasks)
    return tasks


class Traffic:
    """Method, status and session header of every HTTP exchange the SDK makes."""

    def __init__(self):
        self.exchanges = []
        self.session_ids = set()

    async def response(self, response):
        self.exchanges.append((response.request.method, response.status_code))
        session = response.headers.get("mcp-session-id")
        if session:
            self.session_ids.add(session)


def http_client(traffic):
    """The HTTP client the SDK's transport uses: the bearer token, bounded waits, a tap."""
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0),
        event_hooks={"response": [traffic.response]},
    )


def result_value(result):
    """A tool result's JSON (its text content), or its error text."""
    text = result.content[0].text if result.content else ""
    if result.is_error:
        return text
    return json.loads(text)


TOOLS = ["add_task", "complete_task", "delete_task", "list_tasks", "search_tasks", "update_task"]
NEW_FIELDS = ["priority", "tags", "due_date", "recurrence"]
REMINDER_FIELDS = ["remind_at", "remind_before_minutes"]


async def full_session():
    traffic = Traffic()
    async with http_client(traffic) as http:
        await tool_calls(traffic, http)
    await session_end(traffic)


async def tool_calls(traffic, http):
    transport = streamable_http_client(f"{base}/mcp", http_client=http)
    async with Client(transport, mode="legacy", read_timeout_seconds=30) as client:
        # initialize
        check = Check("initialize")
        info = client.server_info
        check.expect(info is not None, "the server sent no serverInfo")
        if info is not None:
            check.expect(info.name == "tasktrail", f"serverInfo.name is {info.name!r}, not 'tasktrail'")
            check.expect(info.version == expected_version, f"serverInfo.version is {info.version!r}, not {expected_version!r}")
        instructions = client.session.instructions or ""
        check.expect("tasktrail" in instructions and "task" in instructions, f"instructions say nothing of tasktrail's tasks: {instructions!r}")
        check.expect(client.server_capabilities.tools is not None, "the server does not offer tools")
        check.expect(len(traffic.session_ids) == 1, f"initialize gave {len(traffic.session_ids)} session ids, not one")
        check.done(f"initialize ({client.protocol_version}): the server introduces itself as tasktrail {expected_version}, with instructions, offering tools")

        # tools/list
        check = Check("tools/list")
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        check.expect(sorted(tools) == TOOLS, f"the tools are {sorted(tools)}, not {TOOLS}")
        for name in ("add_task", "update_task"):
            properties = tools[name].input_schema.get("properties", {}) if name in tools else {}
            missing = [f for f in NEW_FIELDS + REMINDER_FIELDS if f not in properties]
            check.expect(not missing, f"{name} does not take {missing}")
        filters = tools["list_tasks"].input_schema.get("properties", {}) if "list_tasks" in tools else {}
        missing = [f for f in ("status", "tag", "priority", "q") if f not in filters]
        check.expect(not missing, f"list_tasks does not filter by {missing}")
        check.done("tools/list: the six tools; add_task and update_task take priority, tags, due_date, recurrence, remind_at and remind_before_minutes; list_tasks filters by status, tag, priority and q")

        # add_task
        check = Check("add_task")
        added = result_value(await client.call_tool("add_task", {
            "title": "water the plants", "description": "the ferns too", "priority": "high",
            "tags": ["Home", "garden"], "due_date": "2030-12-01T17:00:00Z", "recurrence": "every 2 weeks until 2031-03-01",
        }))
        if check.expect(isinstance(added, dict), f"add_task failed: {added}"):
            check.expect(set(added) == {"task_id", "status", "title"}, f"add_task returned {added}, not {{task_id, status, title}}")
            check.expect(added.get("status") == "created" and added.get("title") == "water the plants", f"add_task returned {added}")
            status, task = rest_task(added.get("task_id"))
            check.expect(status == 200, f"REST does not find the task: {status} {task}")
            if status == 200:
                got = {f: task[f] for f in NEW_FIELDS + ["description"]}
                want = {"priority": "high", "tags": ["home", "garden"], "due_date": "2030-12-01T17:00:00Z",
                        "recurrence": "every 2 weeks until 2031-03-01", "description": "the ferns too"}
                check.expect(got == want, f"REST shows {got}, not {want}")
        plain = result_value(await client.call_tool("add_task", {"title": "buy milk", "tags": ["shop"], "recurrence": "every 1 weeks"}))
        check.expect(isinstance(plain, dict) and plain.get("status") == "created", f"add_task failed: {plain}")
        low = result_value(await client.call_tool("add_task", {"title": "read a book", "priority": "low"}))
        check.expect(isinstance(low, dict) and low.get("status") == "created", f"add_task failed: {low}")
        check.done("add_task creates tasks with priority, tags, due date and recurrence, returns {task_id, status, title}, and REST shows the fields (tags lowercased, the rule as given)")
        if not (isinstance(added, dict) and isinstance(plain, dict) and isinstance(low, dict)):
            return
        plants, milk, book = added["task_id"], plain["task_id"], low["task_id"]

        # list_tasks, with each filter
        check = Check("list_tasks")
        listed = result_value(await client.call_tool("list_tasks", {}))
        if check.expect(isinstance(listed, list), f"list_tasks failed: {listed}"):
            check.expect([t.get("id") for t in listed] == [book, milk, plants], f"list_tasks lists {[t.get('id') for t in listed]}, not newest first {[book, milk, plants]}")
            item = next((t for t in listed if t.get("id") == plants), {})
            want = {"id": plants, "title": "water the plants", "completed": False, "priority": "high", "tags": ["home", "garden"],
                    "due_date": "2030-12-01T17:00:00Z", "recurrence": "every 2 weeks until 2031-03-01"}
            check.expect({k: item.get(k) for k in want} == want, f"list_tasks item is {item}, not (at least) {want}")
            milk_item = next((t for t in listed if t.get("id") == milk), {})
            check.expect(milk_item.get("recurrence") == "weekly", f"'every 1 weeks' is listed as {milk_item.get('recurrence')!r}, not the canonical 'weekly'")
        for arguments, want in [({"tag": "garden"}, [plants]), ({"priority": "low"}, [book]), ({"q": "MILK"}, [milk]),
                                ({"status": "completed"}, []), ({"sort": "title"}, [milk, book, plants])]:
            got = result_value(await client.call_tool("list_tasks", arguments))
            ids = [t.get("id") for t in got] if isinstance(got, list) else got
            check.expect(ids == want, f"list_tasks {arguments} gave {ids}, not {want}")
        check.done("list_tasks returns [{id, title, completed}] with priority, tags, due_date and recurrence, and filters by tag, priority, q and status, and sorts")

        # search_tasks
        check = Check("search_tasks")
        found = result_value(await client.call_tool("search_tasks", {"query": "FERNS"}))
        ids = [t.get("id") for t in found] if isinstance(found, list) else found
        check.expect(ids == [plants], f"search_tasks 'FERNS' found {ids}, not [{plants}]")
        found = result_value(await client.call_tool("search_tasks", {"query": "the", "priority": "high"}))
        ids = [t.get("id") for t in found] if isinstance(found, list) else found
        check.expect(ids == [plants], f"search_tasks 'the' among high priority found {ids}, not [{plants}]")
        check.done("search_tasks finds by description in any case, with the list filters")

        # update_task
        check = Check("update_task")
        updated = result_value(await client.call_tool("update_task", {
            "task_id": plants, "priority": "low", "tags": ["balcony"], "due_date": None, "recurrence": None}))
        check.expect(updated == {"task_id": plants, "status": "updated", "title": "water the plants"}, f"update_task returned {updated}")
        status, task = rest_task(plants)
        got = {f: task.get(f) for f in NEW_FIELDS} if status == 200 else (status, task)
        want = {"priority": "low", "tags": ["balcony"], "due_date": None, "recurrence": None}
        check.expect(got == want, f"after update_task REST shows {got}, not {want}")
        updated = result_value(await client.call_tool("update_task", {"task_id": milk, "title": "buy oat milk", "due_date": "2030-12-24"}))
        check.expect(updated == {"task_id": milk, "status": "updated", "title": "buy oat milk"}, f"update_task returned {updated}")
        status, task = rest_task(milk)
        check.expect(status == 200 and task.get("due_date") == "2030-12-24T00:00:00Z" and task.get("tags") == ["shop"],
                     f"after update_task REST shows {task}, not due 2030-12-24 with the tags kept")
        check.done("update_task changes priority and tags, clears due date and recurrence with null, sets a date, keeps what it is not given")

        # a reminder: relative to the due date, then at a time, then cleared
        check = Check("reminders")
        added = result_value(await client.call_tool("add_task", {
            "title": "dentist", "due_date": "2030-12-06T09:30:00Z", "remind_before_minutes": 30}))
        dentist = added.get("task_id") if check.expect(isinstance(added, dict), f"add_task failed: {added}") else None

        async def listed_reminder():
            found = result_value(await client.call_tool("search_tasks", {"query": "dentist"}))
            item = found[0] if isinstance(found, list) and len(found) == 1 else {}
            return {f: item.get(f) for f in REMINDER_FIELDS}

        def rest_reminder():
            status, task = rest_task(dentist)
            return {f: task.get(f) for f in REMINDER_FIELDS} if status == 200 else (status, task)

        want = {"remind_at": "2030-12-06T09:00:00Z", "remind_before_minutes": 30}
        got = await listed_reminder()
        check.expect(got == want, f"search_tasks lists the reminder as {got}, not {want}")
        check.expect(rest_reminder() == want, f"REST shows the reminder as {rest_reminder()}, not {want}")
        updated = result_value(await client.call_tool("update_task", {"task_id": dentist, "remind_at": "2030-12-05T18:00:00Z"}))
        check.expect(updated == {"task_id": dentist, "status": "updated", "title": "dentist"}, f"update_task returned {updated}")
        want = {"remind_at": "2030-12-05T18:00:00Z", "remind_before_minutes": None}
        got = await listed_reminder()
        check.expect(got == want, f"after setting remind_at, search_tasks lists {got}, not {want}")
        await client.call_tool("update_task", {"task_id": dentist, "remind_at": None})
        want = {"remind_at": None, "remind_before_minutes": None}
        got = await listed_reminder()
        check.expect(got == want and rest_reminder() == want, f"after remind_at null, search_tasks lists {got} and REST {rest_reminder()}, not {want}")
        deleted = result_value(await client.call_tool("delete_task", {"task_id": dentist}))
        check.expect(isinstance(deleted, dict) and deleted.get("status") == "deleted", f"delete_task returned {deleted}")
        check.done("a reminder: add_task with remind_before_minutes lists remind_at (due less 30 minutes) and the lead; update_task moves it to a time, and null clears it (REST agrees)")

        # the overdue filter, with a due date in the past
        check = Check("list_tasks due=overdue")
        overdue = result_value(await client.call_tool("list_tasks", {"due": "overdue"}))
        check.expect(overdue == [], f"before any task is overdue, list_tasks due=overdue gave {overdue}")
        await client.call_tool("update_task", {"task_id": plants, "due_date": "2020-01-01"})
        overdue = result_value(await client.call_tool("list_tasks", {"due": "overdue"}))
        ids = [t.get("id") for t in overdue] if isinstance(overdue, list) else overdue
        check.expect(ids == [plants], f"list_tasks due=overdue gave {ids}, not [{plants}] (due 2020-01-01)")
        check.done("list_tasks due=overdue lists the pending task whose due date has passed, and nothing before")

        # complete_task
        check = Check("complete_task")
        completed = result_value(await client.call_tool("complete_task", {"task_id": book}))
        check.expect(completed == {"task_id": book, "status": "completed", "title": "read a book"}, f"complete_task returned {completed}")
        again = result_value(await client.call_tool("complete_task", {"task_id": book}))
        check.expect(isinstance(again, dict) and again.get("status") == "already_completed", f"completing again returned {again}")
        listed = result_value(await client.call_tool("list_tasks", {"status": "completed"}))
        check.expect(isinstance(listed, list) and [t.get("id") for t in listed] == [book], f"the completed tasks are {listed}")
        # A recurring task: completing it makes the next occurrence, as over REST.
        completed = result_value(await client.call_tool("complete_task", {"task_id": milk}))
        check.expect(isinstance(completed, dict) and completed.get("status") == "completed", f"complete_task returned {completed}")
        pending = result_value(await client.call_tool("list_tasks", {"status": "pending", "q": "oat milk"}))
        nxt = pending[0] if isinstance(pending, list) and len(pending) == 1 else {}
        want = {"title": "buy oat milk", "completed": False, "tags": ["shop"], "due_date": "2030-12-31T00:00:00Z", "recurrence": "weekly"}
        check.expect({k: nxt.get(k) for k in want} == want and nxt.get("id") != milk,
                     f"after completing the weekly task due 2030-12-24 the pending ones are {pending}, not its next occurrence {want}")
        if nxt.get("id"):
            status, task = rest_task(nxt["id"])
            check.expect(status == 200 and task.get("continues") == milk, f"REST shows the next occurrence as {task}, not continuing task {milk}")
        check.done("complete_task completes a task (already_completed the second time); completing a weekly one makes its next occurrence, due a week on")

        # delete_task
        check = Check("delete_task")
        deleted = result_value(await client.call_tool("delete_task", {"task_id": book}))
        check.expect(deleted == {"task_id": book, "status": "deleted", "title": "read a book"}, f"delete_task returned {deleted}")
        status, _ = rest_task(book)
        check.expect(status == 404, f"REST still finds the deleted task ({status})")
        missing = await client.call_tool("delete_task", {"task_id": book})
        check.expect(missing.is_error and "no such task" in result_value(missing), f"deleting it again: {missing}")
        check.done("delete_task deletes a task; a second delete is a tool error saying there is no such task")

        # bad values: tool errors that say what is wrong, and nothing changes
        check = Check("bad values")
        before = rest_tasks()
        bad = [
            ("add_task", {"title": "x", "priority": "urgent"}, "urgent"),
            ("add_task", {"title": "x", "tags": [f"t{i}" for i in range(100)]}, "tags"),
            ("add_task", {"title": "x", "tags": ["t" * 1000]}, "tags"),
            ("add_task", {"title": "x", "due_date": "next tuesday"}, "due_date"),
            ("add_task", {"title": "x", "recurrence": "fortnightly"}, "recurrence"),
            ("add_task", {"title": "x", "recurrence": "every 0 days"}, "recurrence"),
            ("add_task", {"title": "x", "due_date": "2031-05-01", "recurrence": "weekly until 2031-04-01"}, "until"),
            ("add_task", {"title": "x", "colour": "red"}, "colour"),
            ("add_task", {"title": ""}, "title"),
            ("update_task", {"task_id": milk, "priority": "urgent"}, "urgent"),
            ("update_task", {"task_id": milk, "recurrence": "every 400 days"}, "recurrence"),
            ("update_task", {"task_id": milk}, "at least one"),
            ("add_task", {"title": "x", "due_date": "2031-05-01", "remind_at": "2031-05-02"}, "remind_at"),
            ("add_task", {"title": "x", "remind_before_minutes": 30}, "remind_before_minutes"),
            ("add_task", {"title": "x", "due_date": "2031-05-01", "remind_at": "2031-04-30", "remind_before_minutes": 5}, "not both"),
            ("update_task", {"task_id": milk, "remind_before_minutes": 0}, "remind_before_minutes"),
            ("list_tasks", {"priority": "urgent"}, "urgent"),
            ("list_tasks", {"status": "done"}, "done"),
            ("list_tasks", {"due": "someday"}, "someday"),
            ("list_tasks", {"user_id": "someone-else"}, "user_id"),
        ]
        for tool, arguments, says in bad:
            result = await client.call_tool(tool, arguments)
            text = result_value(result)
            shown = {k: (v if len(str(v)) < 40 else str(v)[:37] + "...") for k, v in arguments.items()}
            if check.expect(result.is_error, f"{tool} {shown} was not refused: {text}"):
                check.expect(says.lower() in text.lower(), f"{tool} {shown} was refused with {text!r}, which does not name {says!r}")
        after = rest_tasks()
        check.expect(after == before, "a refused call changed the tasks")
        check.done(f"{len(bad)} bad values (unknown priority, 100 tags, a 1,000-character tag, invalid date, invalid or out-of-range recurrence, until before due, a reminder after the due date, without one, or in both forms, a zero lead, unknown field, empty title, empty update, bad filters, another user's id) are tool errors naming what is wrong, and change nothing")


async def session_end(traffic):
    """The client sent DELETE on leaving: it must have been answered 200 or 204, and the
    session must be gone."""
    check = Check("end of session")
    deletes = [status for method, status in traffic.exchanges if method == "DELETE"]
    check.expect(deletes in ([200], [204]), f"the SDK's DELETE got {deletes}, not one 200 or 204")
    others = [(m, s) for m, s in traffic.exchanges if not 200 <= s < 300]
    check.expect(not others, f"answers that were not 2xx: {others}")
    session = next(iter(traffic.session_ids), None)
    if check.expect(session is not None, "no session id was seen"):
        probe = httpx2.post(
            f"{base}/mcp",
            headers={"Authorization": f"Bearer {token}", "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18",
                     "Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
        check.expect(probe.status_code == 404, f"the ended session still answers: {probe.status_code} {probe.text[:200]}")
    check.done(f"ending the session: DELETE answered {deletes[0] if deletes else '?'}, every answer was 2xx, and the session is gone (404 after)")


async def default_client():
    """The SDK's `Client` as its README shows it (mode "auto": discovery, else initialize)."""
    traffic = Traffic()
    check = Check("default client")
    async with http_client(traffic) as http:
        async with Client(streamable_http_client(f"{base}/mcp", http_client=http), read_timeout_seconds=30) as client:
            info = client.server_info
            check.expect(info is not None and (info.name, info.version) == ("tasktrail", expected_version),
                         f"serverInfo is {info}, not tasktrail {expected_version}")
            listed = result_value(await client.call_tool("list_tasks", {"status": "pending"}))
            check.expect(isinstance(listed, list) and len(listed) == 2, f"list_tasks gave {listed}, not the two pending tasks")
            version = client.protocol_version
    deletes = [status for method, status in traffic.exchanges if method == "DELETE"]
    check.expect(all(s in (200, 204) for s in deletes), f"DELETE answered {deletes}")
    others = [(m, s) for m, s in traffic.exchanges if not 200 <= s < 300]
    check.expect(not others, f"answers that were not 2xx: {others}")
    check.done(f"the SDK's default Client (mode auto) connects with {version}, sees tasktrail {expected_version} and calls a tool")


try:
    asyncio.run(asyncio.wait_for(full_session(), 120))
    asyncio.run(asyncio.wait_for(default_client(), 60))
except Exception as error:  # a crash of the client is a failed check, with its cause
    logging.getLogger("mcp-client-test").exception("the client failed")
    fail("the MCP client", f"{type(error).__name__}: {error}")

# Last: whatever the SDK (or the HTTP client under it) had to complain about.
complaints = [r for r in records.records if r.levelno >= logging.WARNING]
if complaints:
    fail("clean sessions", "; ".join(f"{r.name} {r.levelname}: {r.getMessage()}" for r in complaints[:5]))
else:
    ok(f"the SDK logged no warning or error ({len(records.records)} records in all)")

sys.exit(1 if failed else 0)
