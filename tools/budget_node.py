"""The node under test of `make budget` (tools/budget.py), run by the
unix-port MicroPython under `-X heapsize=N`, or by the 32-bit MicroPython of
tools/mp32 (`run.mjs --frames --heapsize N`), with only .mpy files on its
path. It is a firmware node (firmware/node.py, the unix board's simulated
drivers) whose network and clock are a pipe to the CPython driver, which
runs the rest of the world (fake radio, LwM2M server, C2C peers) in its
own process, so this heap holds the node and nothing else.

Frames on stdin, each `kind(1) length(4, big-endian) body`:
    L  (empty)                           -> import the node's modules
    J  config JSON (firmware/config.py from_dict input); builds the node
    R  now_ms(8) port(2) hostlen(1) host datagram  -> node.receive()
    S  now_ms(8)                                   -> node.step()
    C  (empty)                           -> gc.collect() first
    Q  (empty)                           -> exit 0
Every frame is answered on stdout by one `K` frame: deadline_ms(8, all ones for
none; only S sets it), heap now(4), heap high-water(4), the node's datagrams [port(2)
hostlen(1) host len(2) datagram]... The high-water mark is gc.mem_alloc()
sampled after every frame (garbage included). An exception ends the
process with an `M` (MemoryError) or `E` frame holding its text, exit 1.

On tools/mp32 (sys.platform "webassembly") there is no loop on stdin:
mp32.serve() hands each frame to Server.handle as a call from JavaScript,
the heap collected just before (that build collects nowhere else), so `C`
answers with gc.mem_alloc() taken then; an exception is answered with an
`M` / `E` frame and the driver ends the process.
"""
import gc
import sys

NONE = (1 << 64) - 1        # "no deadline" in a K frame


class PipeTransport:
    """The node's transport: datagrams wait here for the reply frame."""

    def __init__(self):
        self.out = []

    def send(self, peer, datagram):
        self.out.append((peer, bytes(datagram)))

    def local_address(self):
        return ("node", 5683)


class NoLog:
    """logger.Log's interface, keeping nothing (lines would be heap)."""

    def debug(self, text):
        pass

    info = warning = error = always = debug


def _read(stream, n):
    data = stream.read(n)
    if data is None or len(data) < n:
        raise EOFError
    return data


def _frame(kind, body):
    out = sys.stdout.buffer
    out.write(kind + len(body).to_bytes(4, "big"))
    out.write(body)
    flush = getattr(out, "flush", None)
    if flush is not None:
        flush()


def load():
    """Import what a running node imports (the content formats and C2C are
    otherwise loaded on first use), so the heap they take is counted apart."""
    import boardkit       # noqa: F401
    import config         # noqa: F401
    import node           # noqa: F401
    import lwm2m.c2c      # noqa: F401
    from lwm2m.formats import tlv, senml_json, senml_cbor, lwm2m_cbor, text  # noqa: F401


def build(cfg_json, clock):
    import json
    import boardkit
    import config
    from node import Node
    cfg = config.from_dict(json.loads(cfg_json))
    board_cfg = cfg["board_config"]
    facts = boardkit.base_facts("unix", "micropython", "budget", "budget-1")
    board = boardkit.Board("unix", board_cfg, PipeTransport(),
                           boardkit.makedirs(cfg["state"]), boardkit.make_drivers(board_cfg),
                           facts, lambda: clock[0])
    board.resolve = lambda host, port: (host, port)    # the driver's hosts are names
    return Node(cfg, board, NoLog())


class Server:
    """The frames of one node process: handle() answers one frame."""

    def __init__(self):
        self.clock = [0]
        self.node = None
        self.peak = 0

    def handle(self, kind, body, live=None):
        """The reply (kind, body) to one frame, None after Q. `live`: the heap
        measured after a collection before the frame was read (tools/mp32,
        where gc.collect() cannot run inside a frame), used by C."""
        clock = self.clock
        deadline = None
        now = None
        if kind == b"Q":
            return None
        if kind == b"J":
            self.node = build(body, clock)
        elif kind == b"C":
            if live is None:
                gc.collect()
                now = gc.mem_alloc()
            else:
                now = live
        elif kind == b"L":
            load()
        else:
            clock[0] = int.from_bytes(body[:8], "big")
            if kind == b"R":
                port = int.from_bytes(body[8:10], "big")
                hlen = body[10]
                peer = (body[11:11 + hlen].decode(), port)
                self.node.receive(body[11 + hlen:], peer, clock[0])
            else:
                deadline = self.node.step(clock[0])
        alloc = gc.mem_alloc()
        if alloc > self.peak:
            self.peak = alloc
        if now is None:
            now = alloc
        reply = bytearray((NONE if deadline is None else deadline).to_bytes(8, "big"))
        reply += now.to_bytes(4, "big") + self.peak.to_bytes(4, "big")
        node = self.node
        out = node.board.transport.out if node is not None else ()
        for (host, port), data in out:
            h = host.encode()
            reply += port.to_bytes(2, "big") + bytes((len(h),)) + h
            reply += len(data).to_bytes(2, "big") + data
        if node is not None:
            del out[:]
        return b"K", reply


def guarded(server):
    """server.handle, answering an exception with an M or E frame (the driver
    then ends the process)."""
    def handle(kind, body, live):
        try:
            return server.handle(kind, body, live)
        except MemoryError as e:
            return b"M", repr(e).encode()
        except Exception as e:      # noqa: BLE001 - reported to the driver
            return b"E", repr(e).encode()
    return handle


def serve(stdin):
    server = Server()
    while True:
        head = _read(stdin, 5)
        reply = server.handle(head[:1], _read(stdin, int.from_bytes(head[1:], "big")))
        if reply is None:
            return
        _frame(*reply)


def main():
    if sys.platform == "webassembly":       # tools/mp32/run.mjs --frames
        import mp32
        mp32.serve(guarded(Server()))
        return
    try:
        serve(sys.stdin.buffer)
    except EOFError:
        pass
    except MemoryError as e:
        _frame(b"M", repr(e).encode())
        sys.exit(1)
    except Exception as e:      # noqa: BLE001 - reported to the driver, then exit 1
        _frame(b"E", repr(e).encode())
        sys.exit(1)
