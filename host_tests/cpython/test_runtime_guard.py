"""firmware/runtime.py: an exception out of the node (a MemoryError in a
tight heap) is logged in one line and the node goes on; the engine's
config save survives a MemoryError from the store."""
import asyncio

from host_tests.support import simnode  # noqa: F401 (firmware/ on sys.path)
import runtime
from lwm2m.engine import Client


class Board:
    network = None

    def __init__(self):
        self.t = 0
        self.fed = 0

    def now_ms(self):
        self.t += 10
        return self.t

    def feed(self):
        self.fed += 1


class FlakyNode:
    """Its first step runs out of heap; the third executes a Reboot."""
    action = None

    def __init__(self):
        self.steps = 0

    def step(self, now_ms):
        self.steps += 1
        if self.steps == 1:
            raise MemoryError("memory allocation failed, allocating 344 bytes")
        if self.steps == 3:
            self.action = "reboot"
        return now_ms


def test_a_failing_step_is_logged_and_the_node_goes_on():
    log = simnode.QuietLog()
    node, board = FlakyNode(), Board()
    rt = runtime.Runtime(node, board, log, poll_ms=1)
    asyncio.run(rt.stepper())
    assert node.steps == 3 and rt.reason == "reboot" and board.fed == 3
    assert log.lines == ["step failed: MemoryError memory allocation failed, allocating 344 bytes"]


class FullStore:
    def save(self, key, value):
        raise MemoryError()

    def load(self, key):
        return None

    def keys(self):
        return []


def test_config_save_survives_a_memory_error():
    lines = []
    engine = Client("n", [], None, store=FullStore(), log=lines.append)
    engine.save_config()
    assert lines and all(ln.startswith("store: cannot save object") for ln in lines)
