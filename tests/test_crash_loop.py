"""A job that dies after every few requests loses no request: the socket
stays open in the manager, connections wait in the kernel queue while the
next instance starts."""

from __future__ import annotations

from conftest import hammer, plist


def test_mixed_deaths_10000_requests_16_clients(manager, churn_server):
    manager.write("crash.plist", plist(
        "test.crashloop", ProgramArguments=[churn_server, "10", "mixed"], ThrottleInterval=0,
        SoftResourceLimits={"Core": 0},  # the SIGSEGVs leave no core files
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.crashloop")["sockets"][0]["address"]["port"]
    served, errors = hammer(port, 16, 625)
    assert not errors, errors[:5]
    assert served == 10_000
    info = manager.info("test.crashloop")
    assert info["runs"] >= 1000
    log = manager.log()
    assert "Job appears to have crashed: SIGSEGV" in log and "Exited: SIGKILL" in log and "Exited with code: 1" in log
