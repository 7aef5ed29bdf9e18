"""Interop with an independent LwM2M server: Telefonica's lwm2m-node-lib
(npm, pinned in tools/interop/lwm2m-node-lib/package.json), an LwM2M
1.0-era server on node-coap, driven through tools/interop/lwm2m-node-lib/
server.js (JSON lines on stdin/stdout). Our unix-port node
(firmware/main.py on $MICROPYTHON) registers there and is read, written,
executed, observed, discovered and de-registered.

What an LwM2M 1.0 server of this vintage can do shapes the checks (the node
keeps its 1.1 behaviour): the library hands every payload back as a UTF-8
string and has no TLV decoder (a TLV answer arrives mangled), so an object
instance is read and observed as SenML-JSON (text) and resources as
text/plain; it does not parse the Register payload (server.js does, as a
plain CoRE link list); its Observe cancel is local only (see below); it
sends Accept/Content-Format text/plain as a one-byte 0 (non-minimal, which
the node accepts). Its 1.0 JSON (11543) is not a format of ours: 4.06.

Node.js and npm are required (CI machines have them): without them the test
fails, it does not skip. The first run installs the pinned packages
(`npm ci`) when node_modules is missing. Every wait is bounded; both
processes are killed at the end."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from host_tests.cpython.procs import MICROPYTHON, ROOT, free_port

HERE = os.path.join(ROOT, "tools", "interop", "lwm2m-node-lib")
WAIT_S = 8.0
EXTRA = []          # more node flags (debugging)
SIM = {"temperature": [{"kind": "sim", "seed": 7, "step_c": 0.2, "period_ms": 150}],
       "switch": {"kind": "sim", "period_ms": 400}, "light": {"kind": "sim", "rated_w": 5.0}}

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")


def node_tools():
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, ("the lwm2m-node-lib interop test needs Node.js and npm on PATH "
                          "(node=%r, npm=%r)" % (node, npm))
    if not os.path.isdir(os.path.join(HERE, "node_modules", "lwm2m-node-lib")):
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "npm ci in %s failed:\n%s%s" % (HERE, r.stdout, r.stderr)
    return node


class Lines:
    """A subprocess whose stdout lines a thread collects."""

    def __init__(self, argv, cwd, stdin=False):
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, pred, timeout=WAIT_S):
        """The first value pred(line) returns that is not None, else None."""
        end = time.monotonic() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.lines):
                    got = pred(self.lines[i])
                    i += 1
                    if got is not None:
                        return got
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and i >= len(self.lines)):
                    return None
                self.cond.wait(min(left, 0.1))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self._reader.join(5)


class NodeLibServer(Lines):
    """server.js: events and command results as JSON lines."""

    def __init__(self, node, port):
        Lines.__init__(self, [node, "--no-warnings", "server.js", "--port", str(port)],
                       HERE, stdin=True)
        self._id = 0
        self.port = port
        assert self.event("listening", timeout=15), self.lines

    def events(self, kind, endpoint=None):
        out = []
        for line in list(self.lines):
            msg = _json(line)
            if msg and msg.get("event") == kind and endpoint in (None, msg.get("endpoint")):
                out.append(msg)
        return out

    def event(self, kind, endpoint=None, n=1, timeout=WAIT_S):
        def pred(line):
            return True if len(self.events(kind, endpoint)) >= n else None
        self.wait(pred, timeout)
        got = self.events(kind, endpoint)
        return got[n - 1] if len(got) >= n else None

    def call(self, op, endpoint, path, timeout=WAIT_S, **kw):
        self._id += 1
        cmd = dict(kw, id=self._id, op=op, endpoint=endpoint, path=path)
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        want = self._id

        def pred(line):
            msg = _json(line)
            return msg if msg and msg.get("id") == want else None
        r = self.wait(pred, timeout)
        assert r is not None, "no answer to %s; server said %s" % (cmd, self.lines[-20:])
        return r

    def ok(self, op, endpoint, path, **kw):
        r = self.call(op, endpoint, path, **kw)
        assert r["ok"], (op, path, r)
        return r.get("value")


def _json(line):
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


@pytest.fixture
def interop(tmp_path):
    node = node_tools()
    server = NodeLibServer(node, free_port())
    procs = [server]
    yield server, procs, tmp_path
    for p in procs:
        p.kill()


def start_node(server, procs, tmp, name):
    cfg = tmp / (name + ".json")
    cfg.write_text(json.dumps(SIM))
    dev = Lines([MICROPYTHON, "firmware/main.py", "--endpoint", name, "--state",
                 str(tmp / name), "--server", "coap://127.0.0.1:%d" % server.port,
                 "--config", str(cfg), "--lifetime", "60"] + EXTRA, ROOT)
    procs.append(dev)
    return dev


def test_node_managed_by_lwm2m_node_lib(interop):
    server, procs, tmp = interop
    ep = "interop-n1"
    dev = start_node(server, procs, tmp, ep)

    # Register: POST /rd?ep=..&lt=60&lwm2m=1.1&b=U with the object list.
    reg = server.event("registration", ep)
    assert reg is not None, (server.lines, dev.lines)
    assert (reg["lifetime"], reg["version"], reg["binding"]) == ("60", "1.1", "U")
    paths = [l["path"] for l in reg["links"]]
    for p in ("/1/0", "/3/0", "/3303/0", "/3311/0", "/3342/0"):
        assert p in paths, (p, reg["payload"])
    root = reg["links"][0]
    assert root["path"] == "/" and "0" in root["attrs"]["ct"].split(), reg["payload"]
    assert dev.wait(lambda l: True if "registered at" in l else None), dev.lines

    # Read: one resource as text/plain, an object instance as SenML-JSON.
    assert server.ok("read", ep, "/3/0/0") == "micropython"
    temp = float(server.ok("read", ep, "/3303/0/5700"))
    assert -10 <= temp <= 40
    assert server.ok("read", ep, "/3303/0/5701") == "Cel"
    senml = json.loads(server.ok("read", ep, "/3303/0", accept="application/senml+json"))
    values = {}
    base = ""
    for rec in senml:
        base = rec.get("bn", base)
        values[base + rec.get("n", "")] = rec.get("v", rec.get("vs"))
    assert values["/3303/0/5701"] == "Cel" and -10 <= values["/3303/0/5700"] <= 40, senml
    r = server.call("read", ep, "/3303/0/5800")
    assert not r["ok"] and r["error"] == "RESOURCE_NOT_FOUND", r    # 4.04
    r = server.call("read", ep, "/0/0/0")
    assert not r["ok"] and r["code"] == "4.01", r                    # Security: bootstrap only
    r = server.call("read", ep, "/3/0")
    assert not r["ok"] and r["code"] == "4.06", r                    # several values as text

    # Write (PUT, text/plain) and read back.
    server.ok("write", ep, "/3311/0/5850", value="1")
    assert server.ok("read", ep, "/3311/0/5850") == "1"
    server.ok("write", ep, "/3311/0/5850", value="0")
    assert server.ok("read", ep, "/3311/0/5850") == "0"
    server.ok("write", ep, "/3311/0/5706", value="red")
    assert server.ok("read", ep, "/3311/0/5706") == "red"
    r = server.call("write", ep, "/3303/0/5700", value="1.5")
    assert not r["ok"] and r["code"] == "4.05", r                    # read-only
    r = server.call("write", ep, "/3311/0/5851", value="101")
    assert not r["ok"] and r["code"] == "4.00", r                    # dimmer is 0..100

    # Execute the Registration Update Trigger: an Update arrives.
    server.ok("execute", ep, "/1/0/8")
    assert server.event("update", ep) is not None, server.lines

    # Write-Attributes + Discover + Observe with notifications.
    server.ok("writeAttributes", ep, "/3303/0/5700", attributes={"pmin": 0, "pmax": 5})
    links = server.ok("discover", ep, "/3303/0")
    assert "</3303/0/5700>;pmin=0;pmax=5" in links, links
    first = server.ok("observe", ep, "/3303/0/5700")
    assert -10 <= float(first) <= 40
    note = server.event("notify", ep, n=3)
    assert note is not None and note["path"] == "/3303/0/5700", server.lines[-10:]
    temps = set(float(n["value"]) for n in server.events("notify", ep))
    assert len(temps) >= 2, temps                                   # it drifts
    # lwm2m-node-lib's cancel only forgets the stream (no GET Observe=1, no RST
    # sent on through its proxy): the node keeps notifying, as RFC 7641 allows.
    server.ok("cancel", ep, "/3303/0/5700")
    server.ok("writeAttributes", ep, "/3303/0", attributes={"pmin": 0, "pmax": 5})
    first = json.loads(server.ok("observe", ep, "/3303/0", accept="application/senml+json"))
    assert first[0]["bn"] == "/3303/0/", first
    n = len(server.events("notify", ep))
    note = server.event("notify", ep, n=n + 1)
    assert note is not None and note["path"] == "/3303/0", server.lines[-10:]
    assert {"n": "5701", "vs": "Cel"} in json.loads(note["value"]), note

    # Reboot: the node comes back on a new port and sends an Update from it
    # (its location was kept); the server follows the new address.
    n = len(server.events("update", ep))
    server.ok("execute", ep, "/3/0/4")
    upd = server.event("update", ep, n=n + 1)
    assert upd is not None, (server.lines[-10:], dev.lines)
    assert upd["port"] != server.events("update", ep)[n - 1]["port"], upd
    assert server.ok("read", ep, "/3/0/0") == "micropython"

    # De-register on SIGINT.
    dev.proc.send_signal(signal.SIGINT)
    assert server.event("deregistration", ep) is not None, (server.lines[-10:], dev.lines)
    assert dev.proc.wait(5) == 0
