"""The node under test of `make budget` (tools/budget.py), run by the
unix-port MicroPython under `-X heapsize=N` with only .mpy files on its
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


def serve(stdin):
    clock = [0]
    node = None
    peak = 0
    while True:
        head = _read(stdin, 5)
        kind = head[:1]
        body = _read(stdin, int.from_bytes(head[1:], "big"))
        deadline = None
        if kind == b"Q":
            return
        if kind == b"J":
            node = build(body, clock)
        elif kind == b"C":
            gc.collect()
        elif kind == b"L":
            load()
        else:
            clock[0] = int.from_bytes(body[:8], "big")
            if kind == b"R":
                port = int.from_bytes(body[8:10], "big")
                hlen = body[10]
                peer = (body[11:11 + hlen].decode(), port)
                node.receive(body[11 + hlen:], peer, clock[0])
            else:
                deadline = node.step(clock[0])
        now = gc.mem_alloc()
        if now > peak:
            peak = now
        reply = bytearray((NONE if deadline is None else deadline).to_bytes(8, "big"))
        reply += now.to_bytes(4, "big") + peak.to_bytes(4, "big")
        out = node.board.transport.out if node is not None else ()
        for (host, port), data in out:
            h = host.encode()
            reply += port.to_bytes(2, "big") + bytes((len(h),)) + h
            reply += len(data).to_bytes(2, "big") + data
        if node is not None:
            del out[:]
        _frame(b"K", reply)


def main():
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
