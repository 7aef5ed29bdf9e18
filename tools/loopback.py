"""Nodes and a server on one machine, over loopback UDP (make demo, the C2C
end-to-end test): the reference server in this process, unix-port
MicroPython nodes (firmware/main.py) as subprocesses.

    hub = Hub.start(policy=Policy.load(...))  # tools/server on 127.0.0.1:0, /ac
    ctx, spec = hub.oscore_client()           # a fresh random OSCORE context
    node = NodeProc("light", hub.uri, spec, config, state_dir)
    hub.run(lambda: node.registered(), 10000) # serve until, or timeout
    node.events("light")                      # its `event light ...` lines
    node.stop()                               # SIGINT (de-registers), kill later

`Hub` is the server's driver (tools/server/driver.py interface: now_ms,
wake, run) and runs the NATs (tools/udpnat.py) in the same select() loop --
datagrams a delaying NAT holds are sent on when due -- all in the calling
thread: nothing happens on the server between two
`run()` calls (CoAP retransmissions cover short gaps). `NodeProc` reads
the node's console lines in a thread; `event ...` lines (firmware/apps.py)
are parsed into dicts. Keys are never printed: OSCORE material goes to the
node on its command line (--oscore) and to the server in memory only.
"""
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
import tools.server  # noqa: E402,F401  (lib/ and the shims on sys.path)
from transport.udp import UdpTransport  # noqa: E402
from transport.runner import now_ms  # noqa: E402
from tools.server.server import Server  # noqa: E402
from tools.server.driver import attach  # noqa: E402
from tools.server.objects import ObjectTable  # noqa: E402

MICROPYTHON = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv/bin/micropython")
if not os.path.isabs(MICROPYTHON) and os.sep in MICROPYTHON:
    MICROPYTHON = os.path.join(ROOT, MICROPYTHON)
_FIELD = re.compile(r'([A-Za-z_][\w-]*)=("[^"]*"|\S+)')


def parse_event(line):
    """{"kind": ..., field: value...} of an `event KIND k=v ...` line (values
    as text, quotes removed; t_ns an int), else None."""
    i = line.find("event ")
    if i < 0 or (i and line[i - 1] != " "):
        return None
    rest = line[i + 6:].split(" ", 1)
    ev = {"kind": rest[0]}
    for k, v in _FIELD.findall(rest[1] if len(rest) > 1 else ""):
        ev[k] = v[1:-1] if v.startswith('"') else v
    if "t_ns" not in ev or not ev["t_ns"].isdigit():
        return None
    ev["t_ns"] = int(ev["t_ns"])
    return ev


class Hub:
    """The reference server on loopback UDP plus NATs, driven from one thread."""

    def __init__(self, server, transport):
        self.server = server
        self.transport = transport
        self.nats = []
        self.contexts = []
        attach(server, self)

    @classmethod
    def start(cls, policy=None, objects=None):
        """A Server on 127.0.0.1 (a free port), OSCORE on, /ac with `policy`."""
        transport = UdpTransport(("127.0.0.1", 0))
        server = Server(transport, objects=objects or ObjectTable.load())
        server.enable_oscore([])
        hub = cls(server, transport)
        if policy is not None:
            from tools.server.authz import Authz
            Authz(server, policy)
        return hub

    @property
    def address(self):
        return self.transport.local_address()

    @property
    def uri(self):
        return "coap://%s:%d" % self.address

    def oscore_client(self):
        """A fresh OSCORE context for one more client: the server's side is
        added to the server, the client's returned as a --oscore spec
        (SECRET:SALT:SID:RID in hex) -- with the server's context."""
        from oscore.context import SecurityContext
        secret, salt = os.urandom(16), os.urandom(8)
        used = set()
        for c in self.contexts:
            used.update((bytes(c.sender_id), bytes(c.recipient_id)))
        while True:
            ids = (os.urandom(2), os.urandom(2))
            if ids[0] != ids[1] and not used.intersection(ids):
                break
        client_id, server_id = ids
        ctx = SecurityContext(secret, server_id, client_id, salt)
        self.server.secure.add(ctx)
        self.contexts.append(ctx)
        spec = ":".join(x.hex() for x in (secret, salt, client_id, server_id))
        return ctx, spec

    def add(self, nat):
        self.nats.append(nat)
        return nat

    # -- driver interface --------------------------------------------------------------
    def now_ms(self):
        return now_ms()

    def wake(self):
        pass                        # run() steps the server before it waits

    def run(self, until=None, timeout_ms=10000):
        """Serve until `until()` is true (True) or `timeout_ms` passed (False)."""
        end = now_ms() + timeout_ms
        buf = bytearray(2048)
        server, sock = self.server, self.transport.sock
        while True:
            if until is not None and until():
                return True
            now = now_ms()
            if now >= end:
                return False
            wait = min(20, end - now)
            d = server.step(now)
            if d is not None:
                wait = max(0, min(wait, d - now))
            socks = [sock]
            for nat in self.nats:
                nat.flush()                 # held datagrams now due (Nat(delay=...))
                held = nat.wait_ms()
                if held is not None:
                    wait = min(wait, held)
                socks += nat.socks()
            ready, _, _ = select.select(socks, [], [], wait / 1000)
            for nat in self.nats:
                nat.flush()
                for s in nat.socks():
                    if s in ready:
                        nat.handle(s)
            if sock in ready:
                while True:
                    got = self.transport.recv_into(buf)
                    if got is None:
                        break
                    server.receive(bytes(buf[:got[0]]), got[1], now_ms())

    def close(self):
        for nat in self.nats:
            nat.close()
        self.transport.close()


class NodeProc:
    """firmware/main.py on the unix-port MicroPython, its lines collected.
    `argv` are extra flags; the node gets its own session (a Ctrl-C in the
    terminal reaches only us: we stop it once, cleanly) and umask 077 (its
    state directory holds keys)."""

    def __init__(self, name, server_uri, oscore, config_path, state, argv=()):
        self.name = name
        cmd = [MICROPYTHON, "firmware/main.py", "--endpoint", name, "--server", server_uri,
               "--config", config_path, "--state", state]
        if oscore:
            cmd += ["--oscore", oscore]
        self.proc = subprocess.Popen(cmd + list(argv), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=True, umask=0o077)
        self.lines = []
        self.parsed = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            ev = parse_event(line)
            if ev is not None:
                self.parsed.append(ev)
            self.lines.append(line)

    def events(self, kind=None, since_ns=0, **fields):
        """Its event dicts of `kind` (all kinds: None) from `since_ns` on,
        whose fields equal `fields`."""
        return [e for e in list(self.parsed)
                if (kind is None or e["kind"] == kind) and e["t_ns"] >= since_ns
                and all(e.get(k) == v for k, v in fields.items())]

    def count(self, text):
        return sum(1 for line in list(self.lines) if text in line)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, hub=None, timeout_ms=5000):
        """SIGINT (the node de-registers; `hub` serves meanwhile), then kill
        after `timeout_ms`. The exit status."""
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGINT)
            except OSError:
                pass
            if hub is not None:
                hub.run(lambda: not self.alive(), timeout_ms)
            else:
                try:
                    self.proc.wait(timeout_ms / 1000)
                except subprocess.TimeoutExpired:
                    pass
        if self.alive():
            self.proc.kill()
        status = self.proc.wait(5)
        self._reader.join(2)
        return status


def wall_ms(t_ns_a, t_ns_b):
    """Milliseconds from wall-clock ns `t_ns_a` to `t_ns_b`."""
    return (t_ns_b - t_ns_a) / 1e6


def since(t0):
    """Milliseconds since time.monotonic() value `t0`."""
    return (time.monotonic() - t0) * 1000
