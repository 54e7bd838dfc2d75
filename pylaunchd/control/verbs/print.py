"""print: everything about a service, or about a domain and its services,
in launchctl print's layout."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import typer

from ..client import is_domain, parse_domain, parse_service, print_json
from ..status import DomainStatus, JobStatus, SocketStatus
from ..verb import LABEL_ARG, Verb

if TYPE_CHECKING:
    from ..service import ControlService

_SYSEXITS = {0: "EX_OK", 64: "EX_USAGE", 65: "EX_DATAERR", 66: "EX_NOINPUT", 67: "EX_NOUSER",
             68: "EX_NOHOST", 69: "EX_UNAVAILABLE", 70: "EX_SOFTWARE", 71: "EX_OSERR", 72: "EX_OSFILE",
             73: "EX_CANTCREAT", 74: "EX_IOERR", 75: "EX_TEMPFAIL", 76: "EX_PROTOCOL", 77: "EX_NOPERM",
             78: "EX_CONFIG", 126: "not executable", 127: "command not found"}


def exit_meaning(code: int, spawn_error: str | None) -> str:
    """What a job's exit code means: the errno of a failed exec (launchd's
    convention), a sysexits.h name, or a plain failure."""
    if spawn_error:
        return f"{os.strerror(code)} ({spawn_error})" if 0 < code < 126 else spawn_error
    return _SYSEXITS.get(code, "failure" if code else "EX_OK")


def _properties(info: JobStatus) -> list[str]:
    """print's ``properties`` line: the job's launch and KeepAlive keys."""
    props = []
    if info.run_at_load:
        props.append("runatload")
    ka = info.keep_alive
    if ka.always:
        props.append("keepalive")
    if ka.successful_exit is not None:
        props.append(f"keepalive(successful-exit={str(ka.successful_exit).lower()})")
    if ka.crashed is not None:
        props.append(f"keepalive(crashed={str(ka.crashed).lower()})")
    if info.inetd_compatibility is not None:
        props.append(f"inetd-compatible(wait={str(info.inetd_compatibility.wait).lower()})")
    return props


def _socket_lines(s: SocketStatus) -> list[str]:
    out = [f'\t\t"{s.name}" = {{', f"\t\t\ttype = {s.type}", f"\t\t\tfamily = {s.family}",
           f"\t\t\taddress = {s.address_text}", f"\t\t\taccepted = {s.accepted}", f"\t\t\ttriggers = {s.triggers}"]
    if s.last_trigger:
        out.append(f"\t\t\tlast trigger = {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(s.last_trigger))}")
    out.append("\t\t}")
    return out


def _endpoint_lines(e: dict) -> list[str]:
    """One MachServices name: its bus, state, owner and activations."""
    out = [f'\t\t"{e["name"]}" = {{', f"\t\t\tbus = {e['bus'] or '(none)'}", f"\t\t\tstate = {e['state']}"]
    if e.get("owner"):
        pid = e.get("owner_pid")
        whose = {True: ", this job", False: ", not this job"}.get(e.get("owned_by_job"), "")
        out.append(f"\t\t\towner = {e['owner']}" + (f" (pid {pid}{whose})" if pid else ""))
    out.append(f"\t\t\tactivations = {e.get('activations', 0)}")
    if e.get("last_activation"):
        stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e["last_activation"]))
        out.append(f"\t\t\tlast activation = {stamp}")
    out.append("\t\t}")
    return out


def _last_exit(info: JobStatus) -> str:
    last = info.last_exit
    if last is None:
        return "(never exited)"
    if last.signal is None:
        return f"{last.code}: {exit_meaning(last.code, info.spawn_error)}"
    return f"(signal) {last.description}"


def format_print(info: JobStatus) -> str:
    """launchctl print's layout: ``domain/label = { key = value ... }``."""
    out = [f"{info.domain}/{info.label} = {{"]

    def kv(key: str, value) -> None:
        out.append(f"\t{key} = {value}")

    def block(key: str, items: list[str]) -> None:
        out.extend([f"\t{key} = {{", *(f"\t\t{i}" for i in items), "\t}"])

    kv("state", info.state)
    kv("path", info.path or "(submitted)")
    kv("type", info.type)
    kv("program", info.program)
    block("arguments", info.arguments)
    for name, value in (("working directory", info.working_directory), ("stdin path", info.stdin_path),
                        ("stdout path", info.stdout_path), ("stderr path", info.stderr_path)):
        if value:
            kv(name, value)
    if info.environment:
        block("environment", [f"{k} => {v}" for k, v in info.environment.items()])
    kv("domain", info.domain)
    kv("minimum runtime", info.throttle_interval)
    kv("exit timeout", info.exit_timeout)
    kv("runs", info.runs)
    if info.pid is not None:
        kv("pid", info.pid)
    if info.instances:
        kv("instances", " ".join(str(p) for p in info.instances))
    kv("last exit code", _last_exit(info))
    if info.throttled_for is not None:
        kv("throttled", f"next start in {info.throttled_for} s")
    if info.last_trigger:
        kv("last start reason", info.last_trigger)
    if info.spawn_error:
        kv("spawn error", info.spawn_error)
    if info.pid is not None:
        kv("ready", "yes" if info.ready else "no")
    if info.status_text:
        kv("status", info.status_text)
    if info.watchdog_interval:
        kv("watchdog interval", f"{info.watchdog_interval} s")
    if info.daemon_pid is not None:
        kv("daemonized, left pid", info.daemon_pid)
    props = _properties(info)
    if props:
        kv("properties", " | ".join(props))
    if info.sockets:
        out.extend(["\tsockets = {", *(line for s in info.sockets for line in _socket_lines(s)), "\t}"])
        kv("watching sockets", "yes" if info.watching_sockets else "no")
    if info.endpoints:
        out.extend(["\tendpoints = {", *(line for e in info.endpoints for line in _endpoint_lines(e)), "\t}"])
    if info.warnings:
        block("warnings", info.warnings)
    if info.ignored_keys:
        block("ignored keys", info.ignored_keys)
    out.append("}")
    return "\n".join(out)


def format_domain(info: DomainStatus) -> str:
    """launchctl print DOMAIN: the manager, its directories, environment,
    services and overrides."""
    out = [f"{info.domain} = {{", f"\ttype = {info.type}", f"\tmanager pid = {info.pid}",
           f"\tcontrol socket = {info.control_socket}", "\tjobs directories = {"]
    out += [f"\t\t{d}" for d in info.jobs_dirs] + ["\t}"]
    if info.environment:
        out += ["\tenvironment = {"] + [f"\t\t{k} => {v}" for k, v in info.environment.items()] + ["\t}"]
    if info.bus:
        b = info.bus
        out += ["\tbus = {", f"\t\taddress = {b['address']}", f"\t\ttype = {b['type']}",
                f"\t\tconnected = {'yes (' + b['unique_name'] + ')' if b['connected'] else 'no'}",
                f"\t\tactivator = {b['activator']}", f"\t\tbus job = {b['bus_job'] or '(run by someone else)'}",
                f"\t\tservice directory = {b['service_dir'] or '(none)'}", f"\t\tnames = {b['names']}", "\t}"]
    out.append("\tservices = {")
    for j in info.services:
        pid = "-" if j.pid is None else j.pid
        status = "-" if j.last_exit_status is None else j.last_exit_status
        out.append(f"\t\t{pid}\t{status}\t{j.label}\t({j.state})")
    out.append("\t}")
    if info.load_errors:
        out += ["\tload errors = {"] + [f"\t\t{e.text}" for e in info.load_errors] + ["\t}"]
    if info.disabled:
        out += ["\tdisabled services = {"]
        out += [f'\t\t"{k}" => {"disabled" if v else "enabled"}' for k, v in sorted(info.disabled.items())]
        out.append("\t}")
    out.append("}")
    return "\n".join(out)


class Print(Verb):
    """Everything about a service (state, plist, program, sockets, exits,
    warnings), or about a domain and its services.

    As launchctl print. A service (DOMAIN/LABEL, or a bare label): its state, plist, program and
    arguments, environment, runs and last exit, why it last started,
    throttling, spawn errors, KeepAlive and launch properties, sockets (with
    the connections accepted and the times each started the job), endpoints
    (each MachServices D-Bus name: its state — activatable, starting, owned,
    owned by another process, hidden until check-in, not registered and why
    — its owner and PID, and the calls that started the job), warnings
    and ignored keys. A domain (system, user/UID, gui/UID): its manager,
    jobs directories, environment, bus (address, connection, whether
    pylaunchd is its activator), services, the plists that did not load
    (load errors, as errors shows them) and overrides. --json gives the
    same as one object; docs/pylaunchctl.md lists its fields.
    """

    name = "print"
    read_only = True
    sends = ("print", "domain")
    args = {"label": LABEL_ARG}

    def run(self, target: str = typer.Argument(..., help="A domain (system, user/UID, gui/UID) or a service "
                                                         "(DOMAIN/LABEL, or a bare label)."),
            as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
        if is_domain(target):
            info = self.client.call("domain", parse_domain(target))
            print_json(info) if as_json else print(format_domain(DomainStatus.from_json(info)))
            return
        domain, label = parse_service(target)
        info = self.client.call("print", domain, label=label)
        print_json(info) if as_json else print(format_print(JobStatus.from_json(info)))

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.status(args["label"]).to_json()


class Domain(Verb):
    """The domain and its services: what print DOMAIN shows."""

    name = "domain"
    cli_name = None  # pylaunchctl print DOMAIN sends it
    read_only = True

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.domain_status().to_json()
