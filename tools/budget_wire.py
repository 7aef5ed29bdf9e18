"""The CPython side of tools/budget_node.py: a MicroPython process holding
one firmware node, attached to the fake radio as the engine of one address.
Every radio event for that address becomes one frame on the process's
stdin, answered by one frame (formats in tools/budget_node.py); the
datagrams the node sent go out on the radio.

The process is the unix port (64-bit) under `-X heapsize=N`, or, when the
interpreter is MP32, the 32-bit wasm MicroPython of tools/mp32 under Node.js
(`run.mjs --frames --heapsize N`), where each frame is one top-level call,
the heap being collected before it (that build collects nowhere else)."""
import json
import os
import select
import subprocess
import tempfile

NONE = (1 << 64) - 1
MP32 = "mp32"               # the interpreter argument that selects tools/mp32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_MJS = os.path.join(ROOT, "tools", "mp32", "run.mjs")
BOOT = ("import sys\nsys.path[:] = [%r + d for d in ('/tools', '/firmware', "
        "'/boards/common', '/lib')]\nimport budget_node\nbudget_node.main()\n")
ANSWER_S = 120              # a node that does not answer a frame within this has hung
BOOT_MP32 = "budget_boot_mp32.py"      # BOOT as a file in the build tree (run.mjs runs files)


def command(micropython, heapsize, build):
    """The argv of a node process (cwd: `build`)."""
    if micropython == MP32:
        boot = os.path.join(build, BOOT_MP32)
        text = BOOT % build
        try:
            with open(boot) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            with open(boot, "w") as f:
                f.write(text)
        return ["node", RUN_MJS, "--frames", "--heapsize", str(heapsize), boot]
    if os.sep in micropython:
        micropython = os.path.abspath(micropython)      # the child runs in `build`
    return [micropython, "-X", "heapsize=%d" % heapsize, "-c", BOOT % build]


class ScenarioFailed(Exception):
    """The node ran out of heap, crashed or did not do its job."""


class NodeProcess:
    """MicroPython (`micropython`: the unix port's path, or MP32) with a GC
    heap of `heapsize` bytes importing the .mpy tree in `build`; `peak` is the
    node's gc.mem_alloc() high-water mark so far."""

    def __init__(self, micropython, heapsize, build, radio, addr):
        self.radio = radio
        self.addr = addr
        self.peak = 0
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            command(micropython, heapsize, build),
            cwd=build, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        self.port = radio.attach(addr, self, wake=False)

    # -- what the radio calls ------------------------------------------------------
    def receive(self, datagram, peer, now_ms):
        host = peer[0].encode()
        self._call(b"R", now_ms.to_bytes(8, "big") + peer[1].to_bytes(2, "big")
                   + bytes((len(host),)) + host + bytes(datagram))

    def step(self, now_ms):
        deadline = self._call(b"S", int(now_ms).to_bytes(8, "big"))
        return None if deadline == NONE else deadline

    # -- what the scenario calls ----------------------------------------------------------
    def collect(self):
        """The node's live heap (bytes) after gc.collect()."""
        return self._call(b"C", b"", heap=True)

    def load(self):
        """Import the node's modules; the live heap after."""
        self._call(b"L", b"")
        return self.collect()

    def boot(self, cfg):
        """Build the node from `cfg` (firmware/config.py input); the live heap after."""
        self._call(b"J", json.dumps(cfg).encode())
        self.radio.wake(self.addr)
        return self.collect()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"Q\0\0\0\0")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.errors.close()

    # -- frames --------------------------------------------------------------------------
    def _call(self, kind, body, heap=False):
        try:
            self.proc.stdin.write(kind + len(body).to_bytes(4, "big") + body)
            self.proc.stdin.flush()
        except OSError:
            raise self._died()
        if not select.select([self.proc.stdout], [], [], ANSWER_S)[0]:
            self.proc.kill()
            raise ScenarioFailed("the node did not answer a %r frame in %d s"
                                 % (kind.decode(), ANSWER_S))
        head = self.proc.stdout.read(5)
        if len(head) < 5:
            raise self._died()
        data = self.proc.stdout.read(int.from_bytes(head[1:], "big"))
        if head[:1] == b"M":
            raise ScenarioFailed("MemoryError in the node: " + data.decode())
        if head[:1] != b"K":
            raise ScenarioFailed("the node failed: " + data.decode() + self._stderr())
        deadline = int.from_bytes(data[:8], "big")
        now = int.from_bytes(data[8:12], "big")
        self.peak = max(self.peak, int.from_bytes(data[12:16], "big"))
        i = 16
        while i < len(data):
            port = int.from_bytes(data[i:i + 2], "big")
            hlen = data[i + 2]
            host = data[i + 3:i + 3 + hlen].decode()
            i += 3 + hlen
            n = int.from_bytes(data[i:i + 2], "big")
            self.port.send((host, port), data[i + 2:i + 2 + n])
            i += 2 + n
        return now if heap else deadline

    def _stderr(self):
        self.errors.seek(0)
        text = self.errors.read().decode(errors="replace").strip()
        return ("\n" + text[-2000:]) if text else ""

    def _died(self):
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return ScenarioFailed("the node process ended (exit %s)%s"
                              % (self.proc.returncode, self._stderr()))
