"""The beamline for many users: one ``beamline-up`` stack (IOC, Redis, tiled, RE Manager, HTTP
server, each a real process on loopback) shared by this module's tests, driven as users
drive it: the ``qserver`` CLI, ``bluesky_queueserver_api.http.REManagerAPI`` with API keys
from other processes, tiled for the runs. The tests that take servers away come last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from beamline_shared.launcher import ca_environment, environment, interrupt_when_parent_dies

from .conftest import eventually

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "eve": "eve-pw"}
ROLES = {"alice": ["user"], "bob": ["user"], "eve": ["observer"]}  # eve may look, not submit
TIMEOUT = 60  # s: any one wait below

pytestmark = pytest.mark.timeout(300)


class Stack:
    """A running beamline-up: its process, what it printed, and its beamline-up.json."""

    def __init__(self, proc: subprocess.Popen, data_root: Path, out: Path, err: Path) -> None:
        self.proc, self.data_root, self.out, self.err = proc, data_root, out, err

    @property
    def info(self) -> dict:
        return json.loads((self.data_root / "beamline-up.json").read_text())

    def printed(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def rm(self, api_key: str | None = None):
        from bluesky_queueserver_api.http import REManagerAPI

        rm = REManagerAPI(http_server_uri=self.info["http_uri"], timeout=TIMEOUT)
        rm.set_authorization_key(api_key=api_key or self.info["api_key"])
        return rm

    def tiled(self):
        from tiled.client import from_uri

        return from_uri(self.info["tiled_uri"], api_key=self.info["tiled_api_key"])

    def qserver(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "qserver"), "-a", self.info["zmq_control_addr"], *args],
                              capture_output=True, text=True, timeout=TIMEOUT)

    def ca_put(self, pv: str, value) -> None:
        from caproto.sync.client import write

        with environment(ca_environment(self.info["ioc_port"])):
            for attempt in range(5):  # the sync client's search can be lost on a busy machine
                try:
                    write(self.info["prefix"] + pv, value, notify=True, timeout=5, repeater=False)
                    return
                except Exception:
                    if attempt == 4:
                        raise


def _users_file(path: Path, me: str, my_password: str) -> None:
    """bluesky-httpserver's users and roles: the test's own user (expert) plus alice, bob, eve."""
    passwords = {me: my_password, **PASSWORDS}
    roles = {me: {"roles": ["admin", "expert"]}, **{u: {"roles": r} for u, r in ROLES.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "authentication": {"providers": [{
            "provider": "local", "authenticator": "bluesky_httpserver.authenticators:DictionaryAuthenticator",
            "args": {"users_to_passwords": passwords}}]},
        "api_access": {"policy": "bluesky_httpserver.authorization:DictionaryAPIAccessControl",
                       "args": {"users": roles}},
        "resource_access": {"policy": "bluesky_httpserver.authorization:DefaultResourceAccessControl",
                            "args": {"default_group": "primary"}},
    }))


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    """beamline-up at time scale 100, started as a user would; Ctrl-C (SIGINT) at the end must
    stop every server it started, by PID, and remove its file."""
    import getpass

    work = tmp_path_factory.mktemp("beamline-up")
    data_root = work / "data"
    _users_file(data_root / "queue" / "http" / "users.yml", getpass.getuser(), "operator-pw")
    out, err = work / "stdout", work / "stderr"
    env = {**os.environ, "BEAMLINE_DATA_ROOT": str(data_root)}
    for key in ("BEAMLINE_TILED_URI", "BEAMLINE_TILED_API_KEY", "BEAMLINE_DATABROKER_DIR"):
        env.pop(key, None)
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([str(BIN / "beamline-up"), "--time-scale", "100", "--seed", "3"], env=env,
                                stdout=stdout, stderr=stderr, cwd=ROOT, start_new_session=True,
                                preexec_fn=interrupt_when_parent_dies)  # a crashed pytest leaves no beamline
    stack = Stack(proc, data_root, out, err)
    t0 = time.monotonic()
    try:
        eventually(lambda: proc.poll() is not None or (data_root / "beamline-up.json").exists()
                   and stack.info.get("state") == "serving", timeout=120, interval=0.2)
        assert proc.poll() is None, stack.printed()
        print(f"\nbeamline-up serving in {time.monotonic() - t0:.1f} s")
        yield stack
    finally:
        pids = {k: v for k, v in stack.info.items() if k.endswith("_pid") and v} if proc.poll() is None else {}
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 130, stack.printed()
    assert not (data_root / "beamline-up.json").exists()
    gone = [name for name, pid in pids.items() if _running(pid)]
    assert not gone, f"still running after Ctrl-C: {gone}"
    for name in ("IOC", "Redis", "tiled", "RE Manager", "HTTP server"):
        assert f"stopped {name} (PID" in stack.printed(), stack.printed()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def api_key_of(stack: Stack, user: str) -> str:
    """``user`` logs in with the password and makes an API key, as a user would once."""
    from bluesky_queueserver_api.http import REManagerAPI

    rm = REManagerAPI(http_server_uri=stack.info["http_uri"], http_auth_provider="local/token", timeout=TIMEOUT)
    try:
        rm.login(user, password=PASSWORDS[user])
        return rm.apikey_new(expires_in=3600)["secret"]
    finally:
        rm.close()


SUBMIT = textwrap.dedent("""
    import json, sys
    from bluesky_queueserver_api import BPlan
    from bluesky_queueserver_api.http import REManagerAPI
    uri, key, plans = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    RM = REManagerAPI(http_server_uri=uri)
    RM.set_authorization_key(api_key=key)
    uids = [RM.item_add(BPlan(p["name"], *p.get("args", []), **p.get("kwargs", {})))["item"]["item_uid"] for p in plans]
    print(json.dumps(uids))
""")


def submit_as(stack: Stack, api_key: str, *plans: dict) -> list[str]:
    """Submit ``plans`` from a process of their own over HTTP with ``api_key``; their item uids."""
    result = subprocess.run([sys.executable, "-c", SUBMIT, stack.info["http_uri"], api_key, json.dumps(plans)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_done(rm, item_uids: list[str], timeout: float = TIMEOUT) -> list[dict]:
    """Wait until each of ``item_uids`` is in the history and the manager idle; their history items."""
    def done() -> bool:
        in_history = {item["item_uid"] for item in rm.history_get()["items"]}
        return set(item_uids) <= in_history and rm.status(reload=True)["manager_state"] == "idle"

    eventually(done, timeout=timeout, interval=0.2)
    return history_of(rm, item_uids)


def history_of(rm, item_uids: list[str]) -> list[dict]:
    by_uid = {item["item_uid"]: item for item in rm.history_get()["items"]}
    return [by_uid[uid] for uid in item_uids]


def test_beamline_up_says_where_everything_is_and_a_second_copy_is_refused(stack):
    info = stack.info
    assert info["http_uri"].startswith("http://127.0.0.1:") and info["tiled_uri"].startswith("http://127.0.0.1:")
    assert info["zmq_control_addr"].startswith("tcp://127.0.0.1:") and info["redis"].startswith("redis://127.0.0.1:")
    assert all(_running(info[k]) for k in ("ioc_pid", "redis_pid", "tiled_pid", "re_manager_pid", "http_pid"))
    assert info["api_key"] and (stack.data_root / "beamline-up.json").stat().st_mode & 0o077 == 0
    printed = stack.printed()
    for where in (info["http_uri"], info["tiled_uri"], info["zmq_control_addr"], info["redis"]):
        assert where in printed
    status = stack.rm().status()
    assert status["worker_environment_exists"] and status["manager_state"] == "idle"
    # The starting user's key is theirs: the HTTP server knows who it is.
    assert stack.rm().whoami()["identities"][0]["id"] == info["user"]

    second = subprocess.run([str(BIN / "beamline-up"), "--data-root", str(stack.data_root)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert second.returncode == 2 and f"PID {info['pid']}" in second.stderr, second.stderr
    assert stack.info["pid"] == info["pid"]  # the file is still the first one's


def test_two_users_queue_plans_in_order_a_failure_does_not_stop_the_queue(stack):
    rm = stack.rm()
    alice, bob = api_key_of(stack, "alice"), api_key_of(stack, "bob")
    count = {"name": "count", "args": [["dot", "I"]], "kwargs": {"num": 3}}
    past_limit = {"name": "scan", "args": [["dot"], "mtr_dotx", 0, 1000, 3]}
    a = submit_as(stack, alice, count, past_limit)
    cli = stack.qserver("queue", "add", "plan", json.dumps({"name": "rel_scan", "args": [["dot"], "mtr_doty", -1, 1, 3]}))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    b = submit_as(stack, bob, {"name": "scan", "args": [["dot", "I"], "mtr_dotx", -5, 5, 3]})
    queue = rm.queue_get()["items"]
    assert [item["user"] for item in queue] == ["alice", "alice", "qserver-cli", "bob"]
    cli = stack.qserver("queue", "start")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    items = wait_done(rm, [*a, queue[2]["item_uid"], *b])
    assert [i["result"]["exit_status"] for i in items] == ["completed", "failed", "completed", "completed"]
    assert "motor_dotx: cannot move to 500: outside its limits [-100, 100]" in items[1]["result"]["msg"], items[1]
    starts = [i["result"]["time_start"] for i in items]
    assert starts == sorted(starts)  # in the order they were queued
    tiled = stack.tiled()
    for item, user in zip(items, ["alice", "alice", "qserver-cli", "bob"], strict=True):
        for uid in item["result"]["run_uids"]:
            start = tiled[uid].metadata["start"]
            assert (start["user"], start["user_group"], start["queue_item_uid"]) == (user, "primary",
                                                                                     item["item_uid"])
            assert (stack.data_root / "databroker" / f"{uid}.msgpack").exists()  # and in databroker
    # The frames read back from tiled are the IOC's: each sums to the Stats1 total taken with it.
    run = tiled[items[3]["result"]["run_uids"][0]]["primary"]
    frames, totals = run["dot_img"], run["dot_stats1_total"].read()
    assert frames.shape == (3, 480, 640)
    assert [float(frames[i].sum(dtype=np.float64)) for i in range(3)] == [float(t) for t in totals]


def test_a_user_without_permission_is_refused_with_a_clear_message(stack):
    from bluesky_queueserver_api import BPlan

    rm = stack.rm(api_key_of(stack, "eve"))
    assert rm.status()["manager_state"]  # eve may look
    with pytest.raises(Exception) as refused:
        rm.item_add(BPlan("count", ["dot"]))
    # bluesky-httpserver answers 401 with the scope the call needs and those the key has.
    assert "Not enough permissions. Requires scopes ['write:queue:edit']" in str(refused.value), refused.value
    bad = stack.rm("0" * 64)
    with pytest.raises(Exception) as unknown:
        bad.status()
    assert "401" in str(unknown.value), unknown.value
    # A plan the user group may not run: the queue server says so.
    with pytest.raises(Exception) as forbidden:
        stack.rm().item_add(BPlan("make_session"))
    assert "make_session" in str(forbidden.value) and "not in the list of allowed plans" in str(forbidden.value)


def test_queue_notebook_submits_a_count_and_a_scan_over_http_and_plots_them_from_tiled(stack, tmp_path):
    import nbformat

    from beamline.demo import execute_notebook

    executed = execute_notebook(ROOT / "notebooks" / "queue.ipynb", tmp_path / "out",
                                {"BEAMLINE_DATA_ROOT": str(stack.data_root)}, timeout=300)
    cells = [c for c in nbformat.read(executed, 4).cells if c.cell_type == "code"]
    printed = "".join(o.get("text", "") for c in cells for o in c.outputs if o.output_type == "stream")
    user = stack.info["user"]
    assert "queue server at http://127.0.0.1:" in printed and "environment open: True" in printed
    assert f"count  by {user}: completed" in printed and f"scan   by {user}: completed" in printed, printed
    assert f"submitted by: {user}" in printed and "frames: (5, 480, 640) uint32" in printed
    figures = [o for o in cells[-1].outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 1 and len(list((tmp_path / "out").glob("*.png"))) == 1


def test_pause_resume_stop_and_abort(stack):
    from bluesky_queueserver_api import BPlan

    rm = stack.rm()
    tiled = stack.tiled()
    long = BPlan("count", ["dot", "I"], num=40, delay=0.1)
    stopped, aborted = rm.item_add(long)["item"]["item_uid"], rm.item_add(long)["item"]["item_uid"]
    rm.queue_start()
    for option, finish in (("stop", rm.re_stop), ("abort", rm.re_abort)):
        eventually(lambda: rm.status(reload=True)["re_state"] == "running", timeout=TIMEOUT)
        rm.re_pause("immediate")
        eventually(lambda: rm.status(reload=True)["manager_state"] == "paused", timeout=TIMEOUT)
        rm.re_resume()
        eventually(lambda: rm.status(reload=True)["re_state"] == "running", timeout=TIMEOUT)
        rm.re_pause("deferred")
        eventually(lambda: rm.status(reload=True)["manager_state"] == "paused", timeout=TIMEOUT)
        finish()
        eventually(lambda: rm.status(reload=True)["manager_state"] == "idle", timeout=TIMEOUT)
        if option == "stop":  # a stop or abort stops the queue: the next item waits for a start
            assert rm.status(reload=True)["items_in_queue"] == 1
            rm.queue_start()
    stop_item, abort_item = history_of(rm, [stopped, aborted])
    assert stop_item["result"]["exit_status"] == "stopped" and abort_item["result"]["exit_status"] == "aborted"
    (stop_run,), (abort_run,) = stop_item["result"]["run_uids"], abort_item["result"]["run_uids"]
    assert tiled[stop_run].metadata["stop"]["exit_status"] == "success"  # bluesky's stop: a good, short run
    assert tiled[abort_run].metadata["stop"]["exit_status"] == "abort"
    assert 0 < tiled[stop_run]["primary"]["dot_img"].shape[0] < 40


def test_a_client_follows_a_run_live_then_reads_its_frames_back(stack):
    from bluesky_queueserver_api import BPlan

    from beamline.live_runs import LiveRuns

    rm = stack.rm()
    tiled = stack.tiled()
    seen: list[tuple[float, str, str, int]] = []
    with LiveRuns(tiled, on_update=lambda uid, stream, key, n: seen.append((time.time(), uid, key, n))):
        item = rm.item_add(BPlan("count", ["dot", "I"], num=4, delay=0.5))["item"]["item_uid"]
        rm.queue_start()
        (result,) = wait_done(rm, [item])
        (uid,) = result["result"]["run_uids"]
        eventually(lambda: [n for _, u, key, n in seen if u == uid and key == "dot_img"][-1:] == [4], timeout=10)
    frames_seen = [(t, n) for t, u, key, n in seen if u == uid and key == "dot_img"]
    stop_time = tiled[uid].metadata["stop"]["time"]
    # Each frame was announced while the run was being taken, before its stop document.
    assert sorted({n for _, n in frames_seen}) == [1, 2, 3, 4]
    assert all(t < stop_time for t, n in frames_seen if n < 4), (frames_seen, stop_time)
    # The scalar columns too (the table's first row comes with the table itself).
    rows = [t for t, u, key, n in seen if u == uid and key == "internal"]
    assert len(rows) >= 2 and rows[0] < stop_time, (seen, stop_time)
    assert len(tiled[uid]["primary"]["I"].read()) == 4
    frames = tiled[uid]["primary"]["dot_img"]
    assert frames.shape == (4, 480, 640) and frames[3].max() > 1000


def test_a_beam_dump_suspends_a_queued_plan_which_then_resumes(stack):
    from bluesky_queueserver_api import BPlan

    rm = stack.rm()
    tiled = stack.tiled()
    stack.ca_put("sim:RefillTime", 200.0)  # simulated s: 2 s of wall time at time scale 100
    item = rm.item_add(BPlan("count", ["dot", "I"], num=8, delay=0.3))["item"]["item_uid"]
    rm.queue_start()
    eventually(lambda: rm.status(reload=True)["re_state"] == "running", timeout=TIMEOUT)
    time.sleep(0.5)  # a few points into the count, as the machine would choose its moment
    t0 = time.monotonic()
    stack.ca_put("sim:BeamDump", 1)  # done once the beam has gone
    (result,) = wait_done(rm, [item])
    assert result["result"]["exit_status"] == "completed", result["result"]
    (uid,) = result["result"]["run_uids"]
    primary = tiled[uid]["primary"]
    current, seq_num = primary["I"].read(), primary["seq_num"].read()
    # Every point (the one taken again after the suspension included) was taken with beam.
    assert sorted(set(seq_num)) == list(range(1, 9)) and min(current) >= 450, (seq_num, current)
    assert primary["dot_img"].shape[0] == len(current)
    assert time.monotonic() - t0 > 2.0 * 0.9  # it waited for the refill
    log = (stack.data_root / "queue" / "logs" / "re-manager.log").read_text()
    assert "Suspending" in log and "SuspendFloor" in log


def test_restarting_the_re_manager_keeps_the_queue_and_history(stack):
    from bluesky_queueserver_api import BPlan

    rm = stack.rm()
    history = [i["item_uid"] for i in rm.history_get()["items"]]
    queued = [rm.item_add(BPlan("count", ["I"], num=2))["item"]["item_uid"] for _ in range(2)]
    pid = stack.info["re_manager_pid"]
    stopped = stack.qserver("manager", "stop")  # the operator's way; beamline-up starts it again
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    eventually(lambda: stack.info["re_manager_pid"] != pid, timeout=TIMEOUT)
    eventually(lambda: stack.rm().status(reload=True)["worker_environment_exists"], timeout=TIMEOUT)
    rm = stack.rm()
    assert [i["item_uid"] for i in rm.queue_get()["items"]] == queued
    assert [i["item_uid"] for i in rm.history_get()["items"]] == history
    assert f"RE Manager (PID {pid}) exited" in stack.printed()
    rm.queue_start()
    assert [i["result"]["exit_status"] for i in wait_done(rm, queued)] == ["completed", "completed"]


def test_an_ioc_that_goes_away_fails_the_running_plan_and_the_queue_moves_on(stack):
    from bluesky_queueserver_api import BPlan

    rm = stack.rm()
    ioc_pid = stack.info["ioc_pid"]
    running = rm.item_add(BPlan("count", ["dot", "I"], num=200, delay=0.05))["item"]["item_uid"]
    after = rm.item_add(BPlan("sleep", 0.1))["item"]["item_uid"]
    rm.queue_start()
    eventually(lambda: rm.re_runs("open")["run_list"], timeout=TIMEOUT)  # the run is being taken
    time.sleep(0.3)
    os.kill(ioc_pid, signal.SIGKILL)
    failed, next_one = wait_done(rm, [running, after])
    assert failed["result"]["exit_status"] == "failed"
    # The device's own error, never a bare status ("Plan failed: ADTriggerStatus(device=dot, done=True,
    # success=False)"). Which error depends on where the kill lands: IOCDisconnected during a trigger,
    # ophyd's "BL:...: could not connect" or pyepics' "Get failed; status code: 192" (ECA_DISCONN)
    # during a read.
    msg = failed["result"]["msg"]
    assert msg.startswith("Plan failed: ") and "Status(" not in msg, msg
    print(f"\nIOC killed mid-run: {msg}")
    assert next_one["result"]["exit_status"] == "completed"
    (uid,) = failed["result"]["run_uids"]
    assert stack.tiled()[uid].metadata["stop"]["exit_status"] == "fail"  # what was taken is kept
    # beamline-up reported it and started it again; the worker's session reconnects by itself.
    eventually(lambda: stack.info["ioc_pid"] != ioc_pid, timeout=TIMEOUT)
    assert f"IOC (PID {ioc_pid}) exited" in stack.printed()
    stack.ca_put("sim:TimeScale", 100)  # it answers again (beamline-up waited for that too)
    t0 = time.monotonic()

    def a_count_completes() -> bool:  # once libca in the worker has found the IOC again
        again = rm.item_add(BPlan("count", ["dot", "I"], num=2))["item"]["item_uid"]
        rm.queue_start()
        (result,) = wait_done(rm, [again])
        return result["result"]["exit_status"] == "completed"

    eventually(a_count_completes, timeout=45, interval=1.0)
    print(f"a count completed again {time.monotonic() - t0:.1f} s after the IOC was back")


def test_tiled_or_redis_going_away_is_reported_and_no_written_run_is_lost(stack):
    rm = stack.rm()
    uids = [u for item in rm.history_get()["items"] for u in item["result"]["run_uids"]]
    history = [i["item_uid"] for i in rm.history_get()["items"]]
    for name, key in (("tiled", "tiled_pid"), ("Redis", "redis_pid")):
        pid = stack.info[key]
        os.kill(pid, signal.SIGKILL)
        eventually(lambda key=key, pid=pid: stack.info[key] != pid, timeout=TIMEOUT)
        assert f"{name} (PID {pid}) exited" in stack.printed()
    tiled = stack.tiled()
    assert uids and all(uid in tiled for uid in uids)
    eventually(lambda: [i["item_uid"] for i in stack.rm().history_get()["items"]] == history, timeout=TIMEOUT)
