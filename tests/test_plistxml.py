"""The quick XML plist reader gives plistlib's value, or steps aside (UNSURE).

Checked on every plist of the project, on documents plistlib writes from
generated values, and on generated tag soup (unknown tags, keys out of
place, text between tags), where plistlib's answer, its error included,
must not change. Also: the read of a plist file, and the numeric address
path of socket creation against getaddrinfo.
"""

from __future__ import annotations

import plistlib
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pylaunchd import plistxml
from pylaunchd.jobspec import SocketSpec
from pylaunchd.plist import MAX_PLIST_BYTES, PlistError, read_plist
from pylaunchd.sockets import _FAMILIES, _PROTOCOLS, _TYPES, _numeric

ROOT = Path(__file__).resolve().parent.parent


def same(a, b) -> bool:
    """Equal with the same types and the same key order (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def plistlib_answer(data: bytes):
    try:
        return True, plistlib.loads(data)
    except Exception as e:  # noqa: BLE001 - its error is the answer
        return False, e


def agrees(data: bytes) -> bool:
    """plistxml's value is plistlib's; where plistlib refuses, plistxml is UNSURE. True if it answered."""
    value = plistxml.loads(data)
    ok, expected = plistlib_answer(data)
    if value is plistxml.UNSURE:
        return False
    assert ok, f"plistxml read what plistlib refuses ({expected!r}): {data[:200]!r}"
    assert same(value, expected), (value, expected)
    return True


CORPUS = sorted(p for p in ROOT.rglob("*.plist") if ".git" not in p.parts)


def test_the_corpus_is_there():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_plist_of_the_project_reads_as_plistlib_reads_it(path):
    data = path.read_bytes()
    answered = agrees(data)
    ok, value = plistlib_answer(data)
    if ok and data.startswith(b"<?xml") and b"<date>" not in data:
        assert answered, "an ordinary XML plist went to plistlib"


values = st.recursive(
    st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1)
    | st.floats(allow_nan=False) | st.binary(max_size=40)
    | st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n"), max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(values)
def test_what_plistlib_writes_is_read_the_same(value):
    data = plistlib.dumps(value, sort_keys=False)
    assert agrees(data), "plistlib's own output went to plistlib"


_TAGS = ["dict", "array", "key", "string", "integer", "real", "true", "false", "data", "plist", "foo"]
_TEXTS = ["", " ", "\n\t", "1", "0x1F", "-3", "2.5", "x", "a&amp;b", "aGk=", "Label", "zz!"]
parts = st.lists(st.one_of(
    st.tuples(st.just("open"), st.sampled_from(_TAGS)),
    st.tuples(st.just("close"), st.sampled_from(_TAGS)),
    st.tuples(st.just("empty"), st.sampled_from(_TAGS)),
    st.tuples(st.just("text"), st.sampled_from(_TEXTS))), max_size=30)


def soup(items) -> bytes:
    out = []
    for kind, x in items:
        out.append({"open": f"<{x}>", "close": f"</{x}>", "empty": f"<{x}/>", "text": x}[kind])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">' + "".join(out)
            + "</plist>").encode()


@settings(max_examples=400, deadline=None)
@given(parts)
def test_tag_soup_gets_plistlibs_answer(items):
    agrees(soup(items))


def balanced(items) -> list:
    """The soup with its closing tags matched (so that expat accepts more of them)."""
    out, stack = [], []
    for kind, x in items:
        if kind == "open":
            stack.append(x)
            out.append((kind, x))
        elif kind == "close":
            if stack:
                out.append(("close", stack.pop()))
        else:
            out.append((kind, x))
    return out + [("close", t) for t in reversed(stack)]


@settings(max_examples=400, deadline=None)
@given(parts)
def test_well_formed_tag_soup_gets_plistlibs_answer(items):
    agrees(soup(balanced(items)))


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY e "x">]><plist><string>&e;</string></plist>',
    b'<?xml version="1.0"?><plist><date>2026-01-01T00:00:00Z</date></plist>',
    plistlib.dumps({"Label": "x"}, fmt=plistlib.FMT_BINARY),
    b"\xef\xbb\xbf" + plistlib.dumps({"Label": "x"}),
    b"<!-- a comment first -->\n" + plistlib.dumps({"Label": "x"}),
    b'<?xml version="1.0"?><plist><dict><key>a</key></dict></plist>',
    b'<?xml version="1.0"?><plist><dict><string>a</string></dict></plist>',
    b'<?xml version="1.0"?><plist><integer>twelve</integer></plist>',
    b'<?xml version="1.0"?><plist><dict><key>a</key>',
    b"",
])
def test_what_it_leaves_to_plistlib(data):
    assert plistxml.loads(data) is plistxml.UNSURE


def test_text_is_what_follows_the_last_start_tag_as_in_plistlib():
    data = b'<?xml version="1.0"?><plist><array><string>a<foo/>b</string><string>c<true/>d</string></array></plist>'
    assert plistxml.loads(data) == plistlib.loads(data) == ["b", True, "d"]


def test_read_plist_reads_the_whole_file_and_refuses_a_huge_one(tmp_path):
    small = tmp_path / "a.plist"
    small.write_bytes(plistlib.dumps({"Label": "a", "Pad": "x" * 100_000}))
    assert read_plist(str(small))["Pad"] == "x" * 100_000
    huge = tmp_path / "b.plist"
    huge.write_bytes(b"<" * (MAX_PLIST_BYTES + 10))
    with pytest.raises(PlistError, match="larger than"):
        read_plist(str(huge))


_NODES = ["127.0.0.1", "::1", "::ffff:1.2.3.4", "0.0.0.0", "::", "fe80::1%lo", "127.1", "localhost",
          "1.2.3.256", "0:0::1", "::FFFF:7f00:1", "2001:DB8::1"]


def test_numeric_addresses_resolve_as_getaddrinfo_resolves_them():
    checked = 0
    for node in _NODES:
        for service in ["80", "080", "65535", "65536", "http", "0"]:
            for family in [None, "IPv4", "IPv6", "IPv4v6"]:
                for type_ in ["stream", "dgram"]:
                    for protocol in [None, "TCP", "UDP"]:
                        s = SocketSpec(type=type_, family=family, protocol=protocol, node=node, service=service)
                        quick = _numeric(s, _TYPES[type_])
                        if quick is None:
                            continue
                        # IPv4v6: an IPv4 address is its v4-mapped one, as _create_inet asks (AI_V4MAPPED)
                        flags = socket.AI_PASSIVE | (socket.AI_V4MAPPED if family == "IPv4v6" else 0)
                        infos = socket.getaddrinfo(node, service, _FAMILIES[family], _TYPES[type_],
                                                   _PROTOCOLS[protocol], flags)
                        assert [tuple(i) for i in quick] == [tuple(i) for i in infos], (node, service, family)
                        checked += 1
    assert checked > 100
    assert _numeric(SocketSpec(node="localhost", service="80"), socket.SOCK_STREAM) is None
