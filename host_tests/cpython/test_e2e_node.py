"""End to end on loopback: unix-port nodes (`firmware/main.py`, subprocesses
on $MICROPYTHON) registered at the reference server (tools/server, run
in-process on UDP by this test's thread), over NoSec and over OSCORE, with
every operation: Read in each content format, Write (replace, partial),
Write-Attributes + Observe (the simulated temperature drifting, the
simulated switch toggling), Execute (Registration Update Trigger, Reboot,
Factory Reset), Create/Delete, Discover, access control with two servers,
de-registration on SIGINT (and on SIGTERM through tools/run_node.py), and
the command line's one-line errors.

The servers only run while a test waits on them (`Loop.run`); the nodes'
CoAP retransmissions cover the gaps. Every loop is bounded; every process
is killed at the end of its test or module."""
import json
import os
import select
import signal
import subprocess
import sys
import threading

import pytest

import tools.server  # noqa: F401  (lib/ and the shims on sys.path)
from transport.udp import UdpTransport
from transport.runner import now_ms
from coap.numbers import (TEXT_PLAIN, OCTET_STREAM, LWM2M_TLV, SENML_JSON, SENML_CBOR,
                          LWM2M_CBOR)
from tools.server.server import Server
from tools.server.driver import attach
from tools.server.objects import ObjectTable
from host_tests.cpython.procs import MICROPYTHON, ROOT
from tools import run_node

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")

SECRET = bytes(range(16))
SALT = bytes.fromhex("9e7ca92223786340")
NODE_SPEC = "%s:%s:01:02" % (SECRET.hex(), SALT.hex())    # node: sender 01, recipient 02
OBJECTS = ObjectTable.load()
WAIT_MS = 8000


class Loop:
    """Reference servers on loopback UDP, driven from the test's thread: a
    server driver (tools/server/driver.py) for several servers at once."""

    def __init__(self):
        self.servers = []           # (server, transport)

    def add(self, oscore=()):
        transport = UdpTransport(("127.0.0.1", 0))
        server = Server(transport, objects=OBJECTS)
        attach(server, self)
        if oscore:
            server.enable_oscore(oscore)
        self.servers.append((server, transport))
        return server, "coap://127.0.0.1:%d" % transport.local_address()[1]

    def now_ms(self):
        return now_ms()

    def wake(self):
        pass

    def run(self, until=None, timeout_ms=WAIT_MS):
        end = now_ms() + timeout_ms
        buf = bytearray(2048)
        while True:
            if until is not None and until():
                return True
            now = now_ms()
            if now >= end:
                return False
            wait = min(50, end - now)
            for server, _ in self.servers:
                d = server.step(now)
                if d is not None:
                    wait = max(0, min(wait, d - now))
            socks = [t.sock for _, t in self.servers]
            ready, _, _ = select.select(socks, [], [], wait / 1000)
            for server, t in self.servers:
                if t.sock in ready:
                    while True:
                        got = t.recv_into(buf)
                        if got is None:
                            break
                        server.receive(bytes(buf[:got[0]]), got[1], now_ms())

    def close(self):
        for _, t in self.servers:
            t.close()


class NodeProc:
    """A firmware/main.py subprocess whose output lines a thread collects."""

    def __init__(self, loop, args, tmp, name, launcher=False):
        self.loop = loop
        self.name = name
        argv = [MICROPYTHON, "firmware/main.py"]
        if launcher:
            argv = [sys.executable, "tools/run_node.py"]
        self.proc = subprocess.Popen(
            argv + ["--endpoint", name, "--state", str(tmp / name)] + list(args),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            bufsize=1)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, text):
        return sum(1 for line in list(self.lines) if text in line)

    def wait_line(self, text, n=1, timeout_ms=WAIT_MS):
        ok = self.loop.run(lambda: self.count(text) >= n or self.proc.poll() is not None,
                           timeout_ms)
        assert ok and self.count(text) >= n, "%s: no %r in %s" % (self.name, text, self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self._reader.join(5)


def config_file(tmp, name, data):
    path = tmp / (name + ".json")
    path.write_text(json.dumps(data))
    return str(path)


SIM = {"temperature": [{"kind": "sim", "seed": 7, "step_c": 0.2, "period_ms": 150}],
       "switch": {"kind": "sim", "period_ms": 400}, "light": {"kind": "sim", "rated_w": 5.0}}


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def start(loop, tmp, name, server_uri, extra=(), launcher=False, conf=None):
    cfg = config_file(tmp, name, dict(SIM, **(conf or {})))
    node = NodeProc(loop, ["--server", server_uri, "--config", cfg, "--lifetime", "60"]
                    + list(extra), tmp, name, launcher)
    try:
        node.wait_line("registered at %s as /rd/" % server_uri)
    except Exception:
        node.stop()
        raise
    return node


def ok(pending, code="2.05"):
    r = pending.wait(WAIT_MS)
    assert r is not None and r.code_text == code, (r, r and r.error)
    return r


# -- the operations, shared by the NoSec and OSCORE nodes -------------------------
def check_registration(dev):
    reg = dev.registration
    assert (reg.lifetime_s, reg.version, reg.binding) == (60, "1.1", "U")
    for oid in (1, 3, 3303, 3311, 3342):
        assert reg.objects.has(oid, 0), oid
    assert set(reg.formats) >= {TEXT_PLAIN, LWM2M_TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR}


def check_reads(dev):
    for cf in (None, LWM2M_TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR):
        r = ok(dev.read("/3303/0", accept=cf))
        values = dict(r.records)
        assert values[(3303, 0, 5701)] == "Cel" and -10 <= values[(3303, 0, 5700)] <= 40, cf
        assert (3303, 0, 5601) in values and (3303, 0, 5602) in values
    r = ok(dev.read("/3/0", accept=SENML_CBOR))
    values = dict(r.records)
    assert values[(3, 0, 2)] == dev.endpoint
    assert "MicroPython" in values[(3, 0, 3)]
    assert ok(dev.read("/3/0/0", accept=TEXT_PLAIN)).value == "micropython"
    assert isinstance(ok(dev.read("/3303/0/5700")).value, float)
    assert ok(dev.read("/3303/0/5700", accept=OCTET_STREAM), "4.06")   # not opaque
    assert ok(dev.read("/3/0", accept=TEXT_PLAIN), "4.06")             # several values
    assert ok(dev.read("/3342/0/5500")).value in (True, False)
    assert ok(dev.read("/9999"), "4.04")
    assert ok(dev.read("/3303/0/5800"), "4.04")
    assert ok(dev.read("/0/0"), "4.01")                 # Security: bootstrap only


def check_writes(dev):
    ok(dev.write("/3311/0/5850", True), "2.04")
    assert ok(dev.read("/3311/0/5850")).value is True              # the driver is on
    ok(dev.write("/3311/0", {5851: 40, 5706: "red"}, replace=False), "2.04")
    values = dict(ok(dev.read("/3311/0", accept=SENML_JSON)).records)
    assert values[(3311, 0, 5850)] is True and values[(3311, 0, 5851)] == 40
    assert values[(3311, 0, 5706)] == "red"
    ok(dev.write("/3311/0", {5850: False, 5851: 10}, content_format=LWM2M_TLV), "2.04")
    values = dict(ok(dev.read("/3311/0", accept=LWM2M_CBOR)).records)
    assert values[(3311, 0, 5850)] is False and values[(3311, 0, 5851)] == 10
    assert (3311, 0, 5706) not in values               # a replace drops what it omits
    ok(dev.write("/3311/0/5851", 101), "4.00")          # dimmer is 0..100
    ok(dev.write("/3303/0/5700", 1.5), "4.05")          # read-only
    ok(dev.write("/3311/1/5850", True), "4.04")


def check_observe(loop, dev):
    ok(dev.write_attributes("/3303/0/5700", pmin=0, pmax=30), "2.04")
    temps = []
    obs = dev.observe("/3303/0/5700", on_notify=lambda r: temps.append(r.value))
    first = ok(obs)
    assert obs.active and isinstance(first.value, float)
    loop.run(lambda: len(set(temps)) >= 3, WAIT_MS)
    assert len(set(temps)) >= 3, temps                 # the temperature drifts
    links = ok(dev.discover("/3303/0")).links
    attrs = dict((l.target, l.attrs) for l in links)
    assert attrs["/3303/0/5700"].get("pmax") == "30"
    states = []
    sw = dev.observe("/3342/0/5500", on_notify=lambda r: states.append(r.value))
    ok(sw)
    loop.run(lambda: len(states) >= 3, WAIT_MS)
    assert len(states) >= 3 and all(a != b for a, b in zip(states, states[1:])), states
    ok(dev.cancel_observation("/3342/0/5500"))
    ok(dev.cancel_observation("/3303/0/5700"))


def check_execute(loop, server, dev):
    updates = []
    server.on_event(lambda kind, reg, info: updates.append(kind) if kind == "updated" else None)
    ok(dev.execute("/1/0/8"), "2.04")                   # Registration Update Trigger
    loop.run(lambda: updates, WAIT_MS)
    assert updates
    ok(dev.execute("/3303/0/5605"), "2.04")             # Reset Min and Max
    ok(dev.execute("/3303/0/5700"), "4.05")
    ok(dev.execute("/3/0/4", "0='x"), "4.00")           # malformed arguments


def check_discover(dev):
    targets = [l.target for l in ok(dev.discover("/3311")).links]
    assert "/3311/0" in targets and "/3311/0/5850" in targets
    targets = [l.target for l in ok(dev.discover("/3/0")).links]
    assert "/3/0/4" in targets
    ok(dev.discover("/0"), "4.01")


def check_reboot(node, loop, dev):
    registered = node.count("registered at")
    ok(dev.execute("/3/0/4"), "2.04")                   # Reboot, after the 2.04
    node.wait_line("rebooting")
    node.wait_line("registered at", registered + 1)     # the same registration, updated
    assert ok(dev.read("/3/0/0")).value == "micropython"


def stop_and_check(loop, server, node, sig=signal.SIGINT):
    gone = []
    server.on_event(lambda kind, reg, info: gone.append(reg.endpoint)
                    if kind == "deregistered" else None)
    node.proc.send_signal(sig)
    loop.run(lambda: gone and node.proc.poll() is not None, WAIT_MS)
    assert gone == [node.name], node.lines
    assert node.proc.wait(15) == 0 and node.count("deregistered") == 1
    assert server.registry.by_endpoint(node.name) is None


# -- tests ------------------------------------------------------------------------------
def test_nosec_node_every_operation(loop, tmp_path):
    server, uri = loop.add()
    node = start(loop, tmp_path, "e2e-nosec", uri)
    try:
        dev = server.device("e2e-nosec")
        assert dev.registration.security is None
        check_registration(dev)
        check_reads(dev)
        check_writes(dev)
        check_observe(loop, dev)
        check_execute(loop, server, dev)
        check_discover(dev)
        ok(dev.create("/3303", {5700: 1.0}, iid=1), "4.05")   # sensors are hardware
        ok(dev.delete("/3311/0"), "4.05")
        ok(dev.create("/21", {0: SECRET}, iid=0), "4.04")      # no OSCORE object here
        check_reboot(node, loop, dev)
        stop_and_check(loop, server, node)
    finally:
        node.stop()


def test_oscore_node_every_operation(loop, tmp_path):
    from oscore.context import SecurityContext
    ctx = SecurityContext(SECRET, b"\x02", b"\x01", SALT)
    server, uri = loop.add(oscore=[ctx])
    node = start(loop, tmp_path, "e2e-oscore", uri, ["--oscore", NODE_SPEC])
    try:
        dev = server.device("e2e-oscore")
        assert dev.registration.security is ctx           # registered under OSCORE
        check_registration(dev)
        assert not dev.registration.objects.has(21)        # never listed (Core §6.2.1)
        check_reads(dev)
        check_writes(dev)
        check_observe(loop, dev)
        check_execute(loop, server, dev)
        check_discover(dev)
        ok(dev.read("/21/0"), "4.01")                      # key material
        # Create / Delete: an OSCORE context for a peer, with and without an ID
        r = ok(dev.create("/21", {0: bytes(16), 1: b"\x05", 2: b"\x06"}, iid=5), "2.01")
        assert r.location == (21, 5)
        r = ok(dev.create("/21", {0: bytes(16), 1: b"\x07", 2: b"\x08"}), "2.01")
        new = r.location
        assert new[0] == 21 and new[1] not in (0, 5)
        targets = [l.target for l in ok(dev.discover("/1/0")).links]
        assert "/1/0/8" in targets
        ok(dev.delete("/21/5"), "2.02")
        ok(dev.delete("/21/%d" % new[1]), "2.02")
        ok(dev.delete("/21/5"), "4.04")
        check_reboot(node, loop, dev)
        assert dev.registration.security is ctx
        stop_and_check(loop, server, node)
    finally:
        node.stop()
    out = "\n".join(node.lines)
    assert SECRET.hex() not in out and SALT.hex() not in out   # never logged


def test_two_servers_access_control(loop, tmp_path):
    a, uri_a = loop.add()
    b, uri_b = loop.add()
    conf = {"servers": [{"uri": uri_a, "ssid": 1}, {"uri": uri_b, "ssid": 2}],
            "acl": [{"object": 3311, "instance": 0, "owner": 1, "acl": {"2": 1}}]}
    name = "e2e-two"
    cfg = config_file(tmp_path, name, dict(SIM, **conf))
    node = NodeProc(loop, ["--config", cfg], tmp_path, name)
    try:
        node.wait_line("registered at", 2)
        da, db = a.device(name), b.device(name)
        assert da.registration.objects.has(2, 0)
        acl = dict(ok(da.read("/2", accept=SENML_JSON)).records)
        light = [p[1] for p, v in acl.items() if p[2] == 0 and v == 3311]
        assert len(light) == 1
        aco = light[0]
        assert acl[(2, aco, 1)] == 0 and acl[(2, aco, 3)] == 1      # /3311/0, owner 1
        assert acl[(2, aco, 2, 2)] == 1                              # server 2: Read
        ok(db.read("/3311/0/5850"))                      # server 2 may read ...
        ok(db.write("/3311/0/5850", True), "4.01")       # ... but not write
        ok(da.write("/3311/0/5850", True), "2.04")       # the owner may
        ok(db.read("/3303/0"))                           # default: R, W, E for all
        ok(db.execute("/1/1/8"), "2.04")                 # its own Server instance
        ok(db.read("/1/0"), "4.01")                      # not the other one's
        ok(db.write("/2/%d/2" % aco, {2: 7}), "4.01")   # only the owner changes an ACL
        gone = []
        for s in (a, b):
            s.on_event(lambda kind, reg, info: gone.append(kind)
                       if kind == "deregistered" else None)
        node.proc.send_signal(signal.SIGINT)
        loop.run(lambda: len(gone) == 2 and node.proc.poll() is not None, WAIT_MS)
        assert gone == ["deregistered"] * 2 and node.proc.wait(15) == 0
    finally:
        node.stop()


def test_factory_reset_and_restart_keep_state(loop, tmp_path):
    server, uri = loop.add()
    node = start(loop, tmp_path, "e2e-state", uri)
    try:
        dev = server.device("e2e-state")
        ok(dev.write("/1/0/1", 120), "2.04")              # lifetime, persisted
        loop.run(lambda: dev.registration.lifetime_s == 120, WAIT_MS)
        assert dev.registration.lifetime_s == 120
        first = dev.registration.id
        node.proc.kill()                                  # no de-registration
        node.stop()
        node = NodeProc(loop, ["--server", uri, "--config",
                               config_file(tmp_path, "e2e-state", SIM),
                               "--lifetime", "60"], tmp_path, "e2e-state")
        node.wait_line("registered at")
        dev = server.device("e2e-state")
        assert dev.registration.id == first               # an Update of the stored one
        assert dev.registration.lifetime_s == 120         # what the server wrote
        ok(dev.execute("/3/0/5"), "2.04")                 # Factory Reset
        node.wait_line("rebooting")
        node.wait_line("registered at", 2)
        dev = server.device("e2e-state")
        assert dev.registration.id != first and dev.registration.lifetime_s == 60
        stop_and_check(loop, server, node)
    finally:
        node.stop()


def test_sigterm_through_the_stop_fd_launcher(loop, tmp_path):
    """The pip unix port runs inside CPython: SIGTERM would end it at once,
    but a launcher can hand it to the node as LWM2M_STOP_FD."""
    if not run_node.in_process(MICROPYTHON):
        pytest.skip("needs the pip unix port (a CPython process hosting MicroPython)")
    server, uri = loop.add()
    node = start(loop, tmp_path, "e2e-term", uri, launcher=True)
    try:
        stop_and_check(loop, server, node, signal.SIGTERM)
        assert node.count("stop requested") == 1
    finally:
        node.stop()


def test_sigterm_without_a_launcher_ends_the_process(loop, tmp_path):
    """What really happens on the unix port: no `signal` module, SIGTERM's
    default action; the server keeps the registration until it expires."""
    server, uri = loop.add()
    node = start(loop, tmp_path, "e2e-kill", uri)
    try:
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(5) == -signal.SIGTERM
        loop.run(None, 300)
        assert server.registry.by_endpoint("e2e-kill") is not None
    finally:
        node.stop()


@pytest.mark.parametrize("args, message", [
    ([], "--endpoint is required"),
    (["--endpoint", "x"], "--server is required"),
    (["--endpoint", "x", "--server", "http://h"], "coap://HOST:PORT"),
    (["--endpoint", "x", "--server", "coaps://h"], "coaps (DTLS) is not supported"),
    (["--endpoint", "x", "--server", "coap://h:70000"], "port must be"),
    (["--endpoint", "x", "--server", "coap://h", "--lifetime", "0"], "--lifetime"),
    (["--endpoint", "x", "--server", "coap://h", "--oscore", "00:11"], "--oscore needs"),
    (["--endpoint", "x", "--server", "coap://h", "--oscore", "00:zz:01:02"],
     "MASTER_SALT is not hex"),
    (["--endpoint", "x", "--server", "coap://h", "--log", "loud"], "--log is one of"),
    (["--endpoint", "x", "--server", "coap://h", "--bind", "nowhere"], "--bind needs"),
    (["--endpoint", "x", "--server", "coap://h", "--config", "/nonexistent.json"],
     "cannot read"),
    (["--endpoint", "x", "--bogus", "1"], "unknown argument '--bogus'"),
    (["--endpoint"], "--endpoint needs a value"),
    (["--endpoint", "a b", "--server", "coap://h"], "--endpoint:"),
])
def test_bad_flags_one_line_exit_2(args, message):
    p = subprocess.run([MICROPYTHON, "firmware/main.py"] + args, cwd=ROOT,
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("main.py: error: "), p.stderr
    assert message in lines[0]


@pytest.mark.parametrize("conf, message", [
    ("[1, 2]", "must hold a JSON object"),
    ("{nope", "is not valid JSON"),
    ('{"servers": [{"uri": "coap://h", "colour": 1}]}', "unknown key 'colour'"),
    ('{"servers": [{"uri": "coap://h"}, {"uri": "coap://g", "ssid": 1}]}', "one ssid"),
    ('{"wat": 1}', "unknown key 'wat'"),
    ('{"servers": [{"uri": "coap://h"}], "temperature": {"kind": "sim"}}', "list of sensors"),
    ('{"servers": [{"uri": "coap://h"}], "switch": {"kind": "relay"}}', "switch relay"),
    ('{"servers": [{"uri": "coap://h"}], "acl": [{"object": 3311}]}', "acl[0].instance"),
])
def test_bad_config_one_line_exit_2(tmp_path, conf, message):
    path = tmp_path / "bad.json"
    path.write_text(conf)
    p = subprocess.run([MICROPYTHON, "firmware/main.py", "--endpoint", "x", "--config",
                        str(path), "--state", str(tmp_path / "st")], cwd=ROOT,
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr


def test_help():
    p = subprocess.run([MICROPYTHON, "firmware/main.py", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and "--endpoint NAME --server coap://HOST:PORT" in p.stdout
