"""The C front end on generated and hostile plists: it never fails (its list mode exits 0) and
every socket it lists is one the manager's own reading (pylaunchd.boot.bind_early) binds too,
for the same label. Real files in private directories, real sockets on free ports."""

from __future__ import annotations

import itertools
import json
import os
import plistlib
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import has_ipv6
from prebindlib import built_once, domain_args, free_port, python_binds, run_list

ROOT = Path(__file__).resolve().parent.parent
PORTS = [free_port() for _ in range(3)]
_unique = itertools.count()


@pytest.fixture(scope="module")
def prebind(tmp_path_factory) -> Path:
    return built_once(tmp_path_factory)


def check(binary, plists: dict[str, bytes], overrides: dict | None = None) -> tuple[list, str]:
    """Write the files (0644) into a fresh domain, list, compare with the manager's reading."""
    with tempfile.TemporaryDirectory() as tmp:
        jobs, state = Path(tmp) / "jobs", Path(tmp) / "state"
        jobs.mkdir()
        state.mkdir()
        for name, data in plists.items():
            (jobs / name).write_bytes(data)
            (jobs / name).chmod(0o644)
        if overrides is not None:
            (state / "overrides.json").write_text(json.dumps(overrides))
        control = Path(tmp) / "control.sock"
        rows, err = run_list(binary, domain_args(jobs, state, control))
        try:
            python = python_binds(jobs, state, control)
        except UnicodeError:  # a SockNodeName such as "a..b": getaddrinfo's idna fails, boot raises
            assert len(plists) == 1 and rows == [], err  # (a manager bug, not the front end's)
            return rows, err
        extra = set(rows) - set(python)
        assert not extra, (extra, err)
    return rows, err


# --------------------------------------------------------------------------
# Generated plists (hypothesis)


def _spelled(key: str):
    return st.sampled_from([key, key, key.lower()])


_text = st.text(st.one_of(st.characters(min_codepoint=0x20, max_codepoint=0x7e), st.sampled_from("\t\n\u00e9\u212a")),
                max_size=5)
_junk = st.one_of(st.integers(-5, 70000), _text, st.booleans(), st.lists(st.integers(-2**40, 2**40), max_size=2),
                  st.floats(allow_nan=False), st.binary(max_size=4))
_NINE_IN_TEN = st.sampled_from([True] * 9 + [False])  # shrinks to True: to the valid plist


def _mostly(good, bad=None):
    """A value drawn from *good* nine times in ten, else from *bad* (default: junk of any type)."""
    return _NINE_IN_TEN.flatmap(lambda n: good if n else (bad if bad is not None else _junk))


_service = _mostly(st.sampled_from([*PORTS, *map(str, PORTS)]),
                   st.one_of(st.sampled_from([0, "0", 70000, -1, "", "echo", "nonexistent-svc", "00080", " 80"]),
                             _junk))
_socket_values = {
    "SockType": _mostly(st.sampled_from(["stream", "dgram", "STREAM", "Dgram"]),
                        st.sampled_from(["seqpacket", "raw", 3])),
    "SockFamily": _mostly(st.sampled_from(["IPv4", "IPv6", "IPv4v6", "ipv4"]), st.sampled_from(["Unix", "inet", 4])),
    "SockProtocol": _mostly(st.sampled_from(["TCP", "UDP", "udp"]), st.sampled_from(["SCTP", 6])),
    "SockNodeName": _mostly(st.sampled_from(["127.0.0.1", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1"]),
                            st.sampled_from(["localhost", "127.1", "192.0.2.1", "", "fe80::1%lo", 7])),
    "SockServiceName": _service,
    "SockPassive": _mostly(st.just(True), st.one_of(st.just(False), _junk)),
    "SockPathName": _mostly(st.just("@unix@")),
    "MulticastGroup": st.one_of(st.just("239.1.2.3"), _junk),
    "SecureSocketWithKey": st.sampled_from(["K", "", "A=B", 3]),
    "Bonjour": st.one_of(st.booleans(), st.just("x"), st.just(["a"]), _junk),
    "XJunkKey": _junk,
}
_RARE = {"SockPathName", "MulticastGroup", "SecureSocketWithKey", "Bonjour", "XJunkKey"}


@st.composite
def _socket(draw):
    keys = {"SockServiceName"} if draw(_NINE_IN_TEN) else set()
    keys |= set(draw(st.lists(st.sampled_from(sorted(set(_socket_values) - _RARE)), max_size=4)))
    if not draw(_NINE_IN_TEN):
        keys.add(draw(st.sampled_from(sorted(_RARE))))
    return {draw(_mostly(st.just(k), st.just(k.lower()))): draw(_socket_values[k]) for k in sorted(keys)}


_entry = _mostly(st.one_of(_socket(), st.lists(_socket(), min_size=1, max_size=3)),
                 st.one_of(st.just([]), _junk))
_sockets = _mostly(st.dictionaries(_mostly(st.sampled_from(["Listeners", "L2", "L3"]), st.sampled_from(["", "a:b"])),
                                   _entry, min_size=1, max_size=3))


@st.composite
def _job(draw):
    plist = {"Label": draw(_mostly(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])))}
    if draw(_NINE_IN_TEN):
        plist["ProgramArguments"] = ["/bin/true"]
    if draw(_NINE_IN_TEN):
        plist[draw(_mostly(st.just("Sockets"), st.just("sockets")))] = draw(_sockets)
    for key, value in (("Disabled", st.one_of(st.booleans(), _junk)), ("label", st.just("d")),
                       ("LimitLoadToHosts", st.just(["x"])), ("XJunk", _junk)):
        if not draw(_NINE_IN_TEN):
            plist[key] = draw(value)
    return plist


def _unix_paths(value, base: str):
    """Every "@unix@" made a path of its own in an existing directory (a clash, or a missing
    directory, makes the manager refuse the whole job: that is left out here)."""
    if isinstance(value, dict):
        return {k: _unix_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_unix_paths(v, base) for v in value]
    return f"{base}/u{next(_unique)}.sock" if value == "@unix@" else value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=st.lists(_job(), min_size=1, max_size=4), disable=st.sets(st.sampled_from(["a", "b"]), max_size=1))
def test_generated_plists(prebind, jobs, disable):
    with tempfile.TemporaryDirectory() as base:
        files = {f"j{i}.plist": plistlib.dumps(_unix_paths(j, base)) for i, j in enumerate(jobs)}
        check(prebind, files, {"disabled": {label: True for label in disable}} if disable else None)


# --------------------------------------------------------------------------
# Hostile files


def _real() -> bytes:
    port = PORTS[0]
    return (ROOT / "LaunchAgents" / "com.example.daytime.plist").read_bytes().replace(b"8813", str(port).encode())


def test_every_truncation_and_corruption(prebind):
    data, rng = _real(), random.Random(13)
    files = {f"t{i:05d}.plist": data[:i] for i in range(len(data))}
    for i in range(300):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.choice([0, ord("<"), ord("&"), ord(">"), 0x80, 0xff, ord('"'),
                                                   rng.randrange(256)])
        files[f"x{i:05d}.plist"] = bytes(b)
    files["zz.plist"] = data  # the intact one, last: listed unless a damaged copy with its label came first
    rows, _ = check(prebind, files)
    assert len(rows) <= 1


@pytest.mark.parametrize("name", ["deep", "wide", "huge", "nul", "entities", "bplist", "bom", "dtd"])
def test_hostile_file(prebind, name):
    port = PORTS[1]
    good = (f'<plist version="1.0"><dict><key>Label</key><string>h</string><key>Program</key>'
            f'<string>/bin/true</string><key>Sockets</key><dict><key>L</key><dict><key>SockNodeName</key>'
            f'<string>127.0.0.1</string><key>SockServiceName</key><integer>{port}</integer></dict></dict>')
    data = {
        "deep": (good + "<key>D</key>" + "<array>" * 200000 + "</array>" * 200000 + "</dict></plist>").encode(),
        "wide": (good + "".join(f"<key>k{i}</key><true/>" for i in range(100000)) + "</dict></plist>").encode(),
        "huge": (good + "<key>S</key><string>" + "x" * (5 << 20) + "</string></dict></plist>").encode(),
        "nul": (good + "</dict></plist>").encode().replace(b"/bin/true", b"/bin\0true"),
        "entities": (good + "<key>E</key><string>" + "&amp;&#x10FFFF;&#65;" * 100000 + "</string></dict></plist>")
        .encode(),
        "bplist": plistlib.dumps({"Label": "h", "Program": "/bin/true", "Sockets": {"L": {"SockServiceName": port}}},
                                 fmt=plistlib.FMT_BINARY),
        "bom": b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\n<!DOCTYPE plist>\n<!-- c -- c -->"
               + (good + "</dict></plist>").encode(),
        "dtd": b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY e "x">]>' + (good + "</dict></plist>").encode(),
    }[name]
    rows, err = check(prebind, {"h.plist": data})
    listed = {"wide": 1, "entities": 1, "bom": 1}.get(name, 0)
    assert len(rows) == listed, err


# --------------------------------------------------------------------------
# One job written every way XML allows (entities, CDATA, comments, line ends, prologs):
# read as Python reads it; and the same with a stray token put anywhere, never more than Python


_AROUND = st.sampled_from(["", " ", "\n", "\r\n", "\t", "<!-- c -->", "<!-- a -- b -->", "\r"])


@st.composite
def _text(draw, text: str) -> str:
    out = []
    for ch in text:
        how = draw(st.sampled_from(["plain"] * 5 + ["dec", "hex", "cdata", "comment"]))
        special = {"<": "&lt;", "&": "&amp;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
        out.append({"plain": special.get(ch, ch), "dec": f"&#{ord(ch)};", "hex": f"&#x{ord(ch):X};",
                    "cdata": f"<![CDATA[{ch}]]>", "comment": f"<!---->{special.get(ch, ch)}"}[how])
    return "".join(out)


@st.composite
def _document(draw, port: int) -> str:
    def el(tag, text):
        return draw(_AROUND) + f"<{tag}>" + draw(_text(text)) + f"</{tag}>"
    nodes = ["127.0.0.1", "::1"] if has_ipv6() else ["127.0.0.1"]
    sock = (el("key", "SockNodeName") + el("string", draw(st.sampled_from(nodes)))
            + el("key", "SockServiceName") + draw(st.sampled_from([el("string", str(port)), el("integer", str(port)),
                                                                    el("integer", f"0x{port:x}")])))
    body = (el("key", "Label") + el("string", "x<&>'y") + el("key", "Program") + el("string", "/bin/true")
            + el("key", draw(st.sampled_from(["Sockets", "sockets"]))) + "<dict>" + el("key", "L")
            + "<dict>" + sock + draw(_AROUND) + "</dict></dict>"
            + el("key", "Other") + draw(st.sampled_from(["<true/>", "<false />", "<data>QUJD\nRA==</data>",
                                                         "<date>2024-02-29T23:59:59Z</date>", "<real>-1.5e3</real>",
                                                         "<array/>", "<dict></dict>", "<string/>"])))
    prolog = draw(st.sampled_from(["", '<?xml version="1.0" encoding="UTF-8"?>\n', "<?xml version='1.0'?>",
                                   '\ufeff<?xml version="1.0" standalone="yes"?>', "\n<?xml version='1.0'?>",
                                   '<?xml version="1.0"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
                                   '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n', "<!-- first -->\n"]))
    return prolog + draw(st.sampled_from(["<plist>", '<plist version="1.0">'])) + "<dict>" + body \
        + draw(_AROUND) + "</dict>" + draw(_AROUND) + "</plist>" + draw(_AROUND)


_STRAY = st.sampled_from(["<", "&", "]]>", "<!--", "-->", "<![CDATA[", "\x00", "\udcff", "</dict>", "<key>Label</key>",
                          "<true/>", "&#0;", "&#xD800;", "&bogus;", "\x01", "<string>", "<?pi?>", "é", "<plist>",
                          "<!DOCTYPE x [<!ENTITY e 'v'>]>", "<key>Label</key><string>z</string>"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), stray=st.booleans())
def test_xml_written_every_way(prebind, data, stray):
    port = PORTS[2]
    text = data.draw(_document(port))
    if stray:
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(_STRAY) + text[at:]
    rows, err = check(prebind, {"x.plist": text.encode("utf-8", "surrogateescape")})
    if not stray:  # read, and read as Python reads it (check: no socket Python would not bind)
        assert [r[0] for r in rows] == ["x<&>'y"], err


def test_ten_thousand_files(prebind, tmp_path):
    """Each asks for the same port: the first (by name) has it; the second fails to bind, which
    leaves that port to the manager for every later one."""
    jobs, state = tmp_path / "jobs", tmp_path / "state"
    jobs.mkdir()
    state.mkdir()
    port = PORTS[0]
    for i in range(10000):
        path = jobs / f"j{i:05d}.plist"
        path.write_bytes(plistlib.dumps({"Label": f"j{i:05d}", "Program": "/bin/true",
                                         "Sockets": {"L": {"SockNodeName": "127.0.0.1", "SockServiceName": port}}}))
        path.chmod(0o644)
    rows, err = run_list(prebind, domain_args(jobs, state, tmp_path / "control.sock"))
    assert rows == [("j00000", "IPv4", "stream", "127.0.0.1", port)]
    assert err.count("Address already in use") == 1 and err.count(f"port {port} is an earlier job's") == 9998
