"""An inetd Wait false job's per-connection plans (pylaunchd/instances.py).

The plan is made once and copied per connection: these check that each copy
is what planning that connection alone would give, and that a change of the
job's spec or of the domain's variables is seen by the very next connection
(unit tests, then a real manager driven with pylaunchctl setenv and a
rewritten plist).
"""

from __future__ import annotations

from conftest import connect_and_talk, plist, wait_for
from pylaunchd.instances import InstanceSpawns
from pylaunchd.spawnplan import plan
from pylaunchd.spec import validate


def spec(**keys):
    return validate({"Label": "t.inst", "ProgramArguments": ["cat"], "inetdCompatibility": {"Wait": False},
                     **keys}, "/j/t.plist")


def remote(port: int) -> dict[str, str]:
    return {"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(port)}


def test_each_connection_gets_the_plan_it_would_get_alone():
    s, spawns = spec(EnvironmentVariables={"A": "job"}), InstanceSpawns(lambda e: None)
    for port in (1000, 1001):
        p = spawns.plan(s, {"D": "domain"}, remote(port))
        alone = plan(s, {"D": "domain", **remote(port)})
        assert p.env == alone.env and p.argv == alone.argv and p.executable == alone.executable
    first = spawns.plan(s, {"D": "domain"}, remote(1))
    assert spawns.plan(s, {"D": "domain"}, remote(2)).env["REMOTE_PORT"] == "2"
    assert first.env["REMOTE_PORT"] == "1", "a connection's plan is its own copy"


def test_the_jobs_own_variables_win_over_the_connections():
    s = spec(EnvironmentVariables={"REMOTE_ADDR": "fixed"})
    p = InstanceSpawns(lambda e: None).plan(s, {}, remote(7))
    assert p.env["REMOTE_ADDR"] == plan(s, remote(7)).env["REMOTE_ADDR"] == "fixed"
    assert p.env["REMOTE_PORT"] == "7"


def test_a_new_spec_or_domain_environment_is_planned_again():
    spawns, s = InstanceSpawns(lambda e: None), spec()
    assert spawns.plan(s, {"D": "1"}, {}).env["D"] == "1"
    assert spawns.plan(s, {"D": "2"}, {}).env["D"] == "2"
    assert spawns.plan(spec(ProgramArguments=["tee"]), {"D": "2"}, {}).argv == ["tee"]
    assert "D" not in spawns.plan(s, {}, {}).env


def test_a_job_with_a_user_is_planned_per_connection():
    """UserName is looked up for every connection (a user added later is found)."""
    spawns = InstanceSpawns(lambda e: None)
    s = spec(UserName="no-such-user-inst")
    assert spawns.plan(s, {}, remote(1)).fatal is not None
    assert spawns._base is None, "nothing cached for a job with an identity"


def test_setenv_and_a_rewritten_plist_reach_the_next_connection(manager, workdir):
    script = 'read line; echo "$V $W $line"'
    keys = dict(ProgramArguments=["/bin/sh", "-c", script], inetdCompatibility={"Wait": False}, ThrottleInterval=0,
                Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}})
    manager.write("i.plist", plist("test.inst", EnvironmentVariables={"W": "w1"}, **keys))
    port = manager.wait_loaded("test.inst")["sockets"][0]["address"]["port"]
    assert connect_and_talk(port, b"a\n").split() == [b"w1", b"a"]
    manager.ctl("setenv", "V", "v1")
    assert connect_and_talk(port, b"b\n").split() == [b"v1", b"w1", b"b"]
    manager.write("i.plist", plist("test.inst", EnvironmentVariables={"W": "w2"}, **keys))
    # the watcher reloads it by itself; the socket is kept (same port)
    wait_for(lambda: connect_and_talk(port, b"c\n").split() == [b"v1", b"w2", b"c"], 15,
             what="a connection to see the reloaded plist's variables")
