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


def test_no_connection_refused_across_reloads(manager, churn_server):
    """Edits that leave Sockets alone keep the very same socket open: clients
    connecting while the plist is rewritten again and again are all served."""
    import threading

    def job(n):
        return plist("test.reloads", ProgramArguments=[churn_server, "20", "exit0"], ThrottleInterval=0,
                     EnvironmentVariables={"EDIT": str(n)},
                     Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}})

    manager.write("r.plist", job(0))
    port = manager.wait_loaded("test.reloads")["sockets"][0]["address"]["port"]
    result: dict = {}
    clients = threading.Thread(target=lambda: result.update(zip(("served", "errors"), hammer(port, 8, 150))))
    clients.start()
    for n in range(1, 11):
        manager.write("r.plist", job(n))
        manager.wait_state("test.reloads", lambda i, n=n: i["environment"].get("EDIT") == str(n), what=f"edit {n}")
    clients.join(timeout=300)
    assert not result["errors"], result["errors"][:5]
    assert result["served"] == 1200
    assert manager.port("test.reloads") == port
    assert manager.log().count("reloading from") >= 10 and " unloaded" not in manager.log()
