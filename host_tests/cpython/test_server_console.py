"""tools/server console and command line: commands on the fake radio against
the stand-in client, `--script` over loopback UDP against a stand-in on a real
socket, and command-line errors."""
import subprocess
import sys
import threading

import pytest

from coap.numbers import (CONTENT, CREATED, CHANGED, TEXT_PLAIN, LWM2M_TLV, LINK_FORMAT, POST,
                          PUT, GET, DELETE, LOCATION_PATH)
from coap.server import reply
from host_tests.support.lwm2m_standin import network, Canned
from host_tests.cpython.procs import ROOT, free_port
from tools.server.console import Console, parse_scalar, CommandError

PY = sys.executable
TLV_MANUFACTURER = b"\xc8\x00\x14Open Mobile Alliance"


class Temperature:
    observable = True

    def __init__(self):
        self.value = b"20.5"

    def get(self, request):
        return reply(CONTENT, self.value, TEXT_PLAIN)

    def put(self, request):                 # Write-Attributes
        self.attributes = request.query()
        return reply(CHANGED)


class Creator:
    def post(self, request):
        return reply(CREATED).add(LOCATION_PATH, "3303").add(LOCATION_PATH, "1")


def stand_in_resources(node):
    node.add("3/0/0", Canned(get=(CONTENT, TLV_MANUFACTURER, LWM2M_TLV)))
    node.add("3/0", Canned(get=(CONTENT, b"</3/0>,</3/0/0>,</3/0/4>", LINK_FORMAT)))
    node.add("3/0/4", Canned())
    node.add("3/0/14", Canned())
    node.add("1/0", Canned())
    node.add("3303", Creator())
    node.add("3303/1", Canned())
    return node.add("3303/0/5700", Temperature())


def console_setup():
    radio, server, nodes = network()
    node = nodes[0]
    lines = []
    console = Console(server, lines.append)
    node.register(payload=b'</>;ct="0 11542 110",</1/0>,</3/0>,</3303/0>')
    temp = stand_in_resources(node)
    return radio, server, node, console, lines, temp


def run(console, lines, command):
    del lines[:]
    assert console.execute(command)
    return list(lines)


def test_registrations_are_printed_as_they_happen():
    radio, server, nodes = network()
    lines = []
    Console(server, lines.append)
    nodes[0].register(payload=b"</1/0>,</3/0>")
    nodes[0].update(["lt=90"])
    nodes[0].deregister()
    assert lines[0].startswith("registered node1 id=") and "objects=</1/0>,</3/0>" in lines[0]
    assert lines[1].startswith("updated node1") and "lt=90" in lines[1]
    assert lines[2].startswith("deregistered node1 id=")


def test_list_read_write_exec_discover_delete_create():
    radio, server, node, console, lines, temp = console_setup()
    out = run(console, lines, "list")
    assert len(out) == 1 and out[0].startswith("node1 id=") and "sec=nosec" in out[0]

    assert run(console, lines, "read node1 /3/0/0 tlv") == \
        ["2.05 Content", '  /3/0/0 = "Open Mobile Alliance"']
    assert node.seen[-1].accept == LWM2M_TLV

    assert run(console, lines, "write node1 /3/0/14 +02:00") == ["2.04 Changed"]
    req = node.seen[-1]
    assert (req.code, req.content_format, req.payload) == (PUT, TEXT_PLAIN, b"+02:00")

    assert run(console, lines, 'write node1 /1/0 {"1": 300, "6": false} tlv') == ["2.04 Changed"]
    assert node.seen[-1].payload == b"\xc2\x01\x01\x2c\xc1\x06\x00"
    assert run(console, lines, 'write node1 /1/0 {"1": 60} partial')[0] == "2.04 Changed"
    # the client advertised 0, 11542 and 110: TLV comes before SenML-JSON
    assert (node.seen[-1].code, node.seen[-1].content_format) == (POST, LWM2M_TLV)

    assert run(console, lines, "exec node1 /3/0/4 0='soon'") == ["2.04 Changed"]
    assert node.seen[-1].payload == b"0='soon'"

    assert run(console, lines, "discover node1 /3/0") == \
        ["2.05 Content", "  </3/0>", "  </3/0/0>", "  </3/0/4>"]

    assert run(console, lines, 'create node1 /3303 {"5700": 21.5, "5701": "Cel"}') == \
        ["2.01 Created", "  location /3303/1"]
    assert node.seen[-1].payload == bytes.fromhex("e4164441ac0000e3164543656c")
    assert run(console, lines, 'create node1 /3303/2 {"5700": 21} tlv')[0] == "2.01 Created"
    assert node.seen[-1].payload == bytes.fromhex("0702e41644" + "41a80000")

    assert run(console, lines, "delete node1 /3303/1") == ["2.02 Deleted"]
    assert node.seen[-1].code == DELETE
    assert run(console, lines, "read node1 /3/0/77") == ["4.04 Not Found"]
    assert console.errors == 0


def test_attr_observe_cancel():
    radio, server, node, console, lines, temp = console_setup()
    assert run(console, lines, "attr node1 /3303/0/5700 pmin=1 pmax=5 gt=20.5 st") == \
        ["2.04 Changed"]
    assert node.seen[-1].query == ["pmin=1", "pmax=5", "gt=20.5", "st"]
    assert run(console, lines, "observe node1 /3303/0/5700 text") == \
        ["2.05 Content", "  /3303/0/5700 = 20.5"]
    del lines[:]
    temp.value = b"22"
    node.changed("3303/0/5700")
    radio.run_for(100)
    assert lines == ["notify node1 /3303/0/5700 2.05 Content", "  /3303/0/5700 = 22.0"]
    out = run(console, lines, "list")
    assert out[1] == "  observing /3303/0/5700 (1 notifications)"
    assert run(console, lines, "cancel node1 /3303/0/5700") == ["2.05 Content",
                                                                "  /3303/0/5700 = 22.0"]
    assert node.seen[-1].observe == 1


@pytest.mark.parametrize("command, message", [
    ("frobnicate", "error: unknown command 'frobnicate' (try help)"),
    ("read", "error: usage: read EP PATH [FORMAT]"),
    ("read ghost /3/0", "error: ghost is not registered"),
    ("read node1 /x", "error: not an LwM2M path: '/x'"),
    ("read node1 /3/0 yaml", "error: unknown content format 'yaml'"),
    ("write node1 /1/0/1 lots", "error: 'lots' is not a valid Integer"),
    ("write node1 /1/0 {bad json}", None),
    ("create node1 /3303/0/1 {}", "error: create takes /O or /O/I"),
    ("attr node1 /3/0 color=red", "error: unknown attribute 'color'"),
    ("attr node1 /3/0 pmin=soon", "error: pmin needs a number"),
    ("exec node1 /3/0", "error: Execute targets a resource"),
    ("cancel node1 /3/0/0", "error: /3/0/0 is not observed"),
    ("sleep forever", "error: 'forever' is not a number of seconds"),
])
def test_bad_commands_get_one_line(command, message):
    radio, server, node, console, lines, temp = console_setup()
    out = run(console, lines, command)
    assert len(out) == 1 and out[0].startswith("error: ")
    if message is not None:
        assert out[0] == message
    assert console.errors == 1


def test_quit_help_wait_and_values():
    radio, server, node, console, lines, temp = console_setup()
    out = run(console, lines, "help")
    assert any(l.strip().startswith("read EP PATH") for l in out)
    assert run(console, lines, "wait node1 1") == ["node1 is registered"]
    assert run(console, lines, "wait ghost 2") == ["error: ghost did not register within 2s"]
    assert console.execute("# a comment") and console.execute("   ")
    assert console.execute("quit") is False
    assert parse_scalar("3:0", "Objlnk") == (3, 0)
    assert parse_scalar("0x0a0b", "Opaque") == b"\x0a\x0b"
    assert parse_scalar("true", "Boolean") is True
    assert parse_scalar("7", None) == 7 and parse_scalar("x", None) == "x"
    with pytest.raises(CommandError):
        parse_scalar("maybe", "Boolean")


# -- the command line ---------------------------------------------------------------------

def cli(*args, **kw):
    return subprocess.run([PY, "-m", "tools.server"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("args", [
    ["--bogus"], ["--bind"], ["--bind", "nowhere"], ["--bind", "127.0.0.1:99999"],
    ["--script", "/no/such/file"], ["--timeout", "-1"], ["--duration", "x"],
    ["--log", "loud"], ["--objects", "/no/such/dir"], ["--headless", "--script", __file__],
    ["stray"],
])
def test_bad_command_line_is_one_line_and_status_2(args):
    r = cli(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("server: error: ")


def test_help_and_running_as_a_file():
    r = subprocess.run([PY, "tools/server/main.py", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "usage:" in r.stdout


def test_interactive_stdin_and_duration():
    port = free_port()
    r = cli("--bind", "127.0.0.1:%d" % port, input="list\nfoo\nquit\nlist\n")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["listening on 127.0.0.1:%d" % port,
                                     "(no clients registered)",
                                     "error: unknown command 'foo' (try help)"]
    r = cli("--bind", "127.0.0.1:0", "--headless", "--duration", "0.3")
    assert r.returncode == 0 and r.stdout.startswith("listening on 127.0.0.1:")


class UdpStandIn:
    """The stand-in's resources on a real UDP socket, run by a thread."""

    def __init__(self, server_port, ep="udpnode", oscore=None):
        from coap.endpoint import Endpoint
        from coap.client import Client
        from coap.server import Site
        from coap.message import Message
        from coap.numbers import CON, URI_QUERY, CONTENT_FORMAT
        from transport.udp import UdpTransport
        from transport.runner import Runner, now_ms
        self.transport = UdpTransport(("127.0.0.1", 0))
        self.endpoint = Endpoint(self.transport)
        self.site = Site(self.endpoint)
        self.client = Client(self.endpoint)
        self.runner = Runner(self.transport, self.endpoint)
        self.stop = False
        self.registered = []
        self.seen = []
        inner = self.site.handle

        def handler(request, peer, t):
            self.seen.append((request.code, request.path_str(), bytes(request.payload)))
            return inner(request, peer, t)
        self.endpoint.handler = handler
        self.protection = None
        if oscore is not None:
            from oscore.secure import SecureHandler, Protection
            self.endpoint.handler = SecureHandler(handler, [oscore]).handle
            self.protection = Protection(oscore)
        msg = Message(CON, POST).set_path("/rd")
        for q in ("ep=" + ep, "lt=60", "lwm2m=1.1", "b=U"):
            msg.add(URI_QUERY, q)
        msg.add(CONTENT_FORMAT, LINK_FORMAT)
        msg.payload = b'</>;ct="0 11542",</3/0>,</3303/0>'
        self.register_msg = msg
        self.server = ("127.0.0.1", server_port)
        self.now_ms = now_ms

    def add(self, path, resource):
        self.site.add(path, resource)
        return resource

    def start(self):
        def loop():
            self.client.request(self.server, self.register_msg,
                                lambda r, e: self.registered.append(r), self.now_ms(),
                                security=self.protection)
            self.runner.run(lambda: self.stop, 30000)
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.transport.close()


def test_script_over_loopback_udp(tmp_path):
    port = free_port()
    script = tmp_path / "session.txt"
    script.write_text("\n".join([
        "# wait for the stand-in, then one of each",
        "wait udpnode 10",
        "list",
        "read udpnode /3/0/0 tlv",
        "write udpnode /3/0/14 +01:00",
        "exec udpnode /3/0/4",
        "attr udpnode /3303/0/5700 pmin=2",
        "observe udpnode /3303/0/5700",
        "cancel udpnode /3303/0/5700",
        "delete udpnode /3303/1",
        "",
    ]))
    proc = subprocess.Popen([PY, "-m", "tools.server", "--bind", "127.0.0.1:%d" % port,
                             "--script", str(script), "--timeout", "20"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    node = UdpStandIn(port)
    stand_in_resources(node)
    import time
    time.sleep(0.3)                 # let the server bind first (it retries anyway)
    node.start()
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        node.close()
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "listening on 127.0.0.1:%d" % port
    text = "\n".join(lines)
    assert "> wait udpnode 10\n" in text and "udpnode is registered" in text
    assert "registered udpnode id=" in text
    assert '> read udpnode /3/0/0 tlv\n2.05 Content\n  /3/0/0 = "Open Mobile Alliance"' in text
    assert "> write udpnode /3/0/14 +01:00\n2.04 Changed" in text
    assert "> exec udpnode /3/0/4\n2.04 Changed" in text
    assert "> attr udpnode /3303/0/5700 pmin=2\n2.04 Changed" in text
    assert "> observe udpnode /3303/0/5700\n2.05 Content\n  /3303/0/5700 = 20.5" in text
    assert "> delete udpnode /3303/1\n2.02 Deleted" in text
    paths = [(c, p) for c, p, _ in node.seen]
    assert (GET, "/3/0/0") in paths and (PUT, "/3/0/14") in paths and (DELETE, "/3303/1") in paths


def test_script_with_a_failing_command_exits_1(tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text("list\nread nobody /3/0\n")
    r = cli("--bind", "127.0.0.1:0", "--script", str(script))
    assert r.returncode == 1
    assert "error: nobody is not registered" in r.stdout


SECRET_HEX = "0102030405060708090a0b0c0d0e0f10"
SALT_HEX = "9e7ca92223786340"


def test_script_with_an_oscore_client_over_loopback_udp(tmp_path):
    from oscore.context import SecurityContext
    port = free_port()
    state = tmp_path / "state.json"
    script = tmp_path / "session.txt"
    script.write_text("wait secnode 10\nlist\nread secnode /3/0/0 tlv\n")
    spec = "%s:%s:02:01" % (SECRET_HEX, SALT_HEX)
    proc = subprocess.Popen([PY, "-m", "tools.server", "--bind", "127.0.0.1:%d" % port,
                             "--oscore", spec, "--state", str(state),
                             "--script", str(script), "--timeout", "20"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ctx = SecurityContext(bytes.fromhex(SECRET_HEX), b"\x01", b"\x02",
                          bytes.fromhex(SALT_HEX))
    node = UdpStandIn(port, ep="secnode", oscore=ctx)
    node.add("3/0/0", Canned(get=(CONTENT, TLV_MANUFACTURER, LWM2M_TLV)))
    import time
    time.sleep(0.3)
    node.start()
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        node.close()
    assert proc.returncode == 0, out + err
    assert "sec=oscore" in out
    assert '> read secnode /3/0/0 tlv\n2.05 Content\n  /3/0/0 = "Open Mobile Alliance"' in out
    assert SECRET_HEX not in out + err and SALT_HEX not in out + err
    saved = state.read_text()
    assert SECRET_HEX not in saved and "oscore." in saved     # sequence numbers only


@pytest.mark.parametrize("args", [
    ["--oscore", "zz:00:01:02"], ["--oscore", "0102:00:01"], ["--state", "/tmp/x.json"],
    ["--oscore", "0102:00:01:02", "--oscore", "0304:00:03:02"],     # one Recipient ID twice
])
def test_bad_oscore_arguments(args, tmp_path):
    extra = [] if "--state" in args else ["--state", str(tmp_path / "s.json")]
    r = cli("--bind", "127.0.0.1:0", "--headless", "--duration", "0.2", *(args + extra))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("server: error: ")
    assert "0102" not in r.stderr and "0304" not in r.stderr
