"""A firmware node (firmware/node.py) on the fake radio, for tests and
tools/memreport.py, under CPython and the unix port: a board record with
the simulated drivers whose transport is a radio port and whose clock is
the radio's, and the engine adapter the radio steps."""
import sys

from host_tests.support.check import ROOT

for _p in (ROOT + "/firmware", ROOT + "/boards/common"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from boardkit import Board, base_facts, make_drivers, makedirs  # noqa: E402


class QuietLog:
    """logger.Log's interface, keeping the lines."""

    def __init__(self):
        self.lines = []

    def debug(self, text):
        pass

    def info(self, text):
        self.lines.append(text)

    warning = error = always = info


def sim_board(radio, addr, board_config, store_dir):
    """A unix-like Board on the radio at `addr` (transport bound, no engine yet)."""
    port = radio.attach(addr, None, wake=False)
    facts = base_facts("unix", "micropython", "sim", board_config.get("serial", "sim-1"))
    board = Board("unix", board_config, port, makedirs(store_dir),
                  make_drivers(board_config), facts, lambda: radio.now_ms)
    board.resolve = lambda host, port: (host, port)     # radio hosts are names
    return board


class Stepper:
    """What the radio steps: node.receive / node.step, with a hook after each."""

    def __init__(self, node, after=None):
        self.node = node
        self.after = after
        self.steps = 0

    def receive(self, datagram, peer, now_ms):
        self.node.receive(datagram, peer, now_ms)

    def step(self, now_ms):
        d = self.node.step(now_ms)
        self.steps += 1
        if self.after is not None:
            self.after()
        return d


def start(radio, addr, cfg, board_config, store_dir, after=None):
    """Build a Node from `cfg` (firmware.config.from_dict output) and let the
    radio drive it; returns (node, stepper)."""
    from node import Node
    board = sim_board(radio, addr, board_config, store_dir)
    node = Node(cfg, board, QuietLog())
    stepper = Stepper(node, after)
    board.transport.engine = stepper
    radio.wake(addr)
    return node, stepper
