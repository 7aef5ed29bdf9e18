"""Heap taken by the node's code once imported: `import config, node, boardkit`
plus the content formats, measured as gc.mem_alloc() after minus before, each
after a real collection. Runs under the unix port and under the 32-bit wasm
build (tools/mp32/run.mjs), from sources or from .mpy files:

    .venv/bin/micropython tools/mp32/code_heap.py ROOT          # lib/ firmware/ boards/common
    node tools/mp32/run.mjs tools/mp32/code_heap.py ROOT
    ... code_heap.py build/mp32                                 # .mpy tree (tools/mp32/measure.py)

ROOT holds lib/, firmware/ and boards/common/ (.py or .mpy). Prints
"CODE_HEAP <bytes>". The steps run through tools/mp32/py/mp32.py, a real
collection before each, on both interpreters."""
import gc
import sys

sys.path.append(__file__.rsplit("/", 1)[0] + "/py")
import mp32                         # noqa: E402 (steps with a collection between)

argv = mp32.argv or sys.argv
then = mp32.then
root = argv[1].rstrip("/") if len(argv) > 1 else "."
got = {}


def before():
    sys.path[:] = [root + "/firmware", root + "/boards/common", root + "/lib"]
    gc.collect()
    got["a0"] = gc.mem_alloc()
    then(load)


def load():
    import config                   # noqa: F401
    import node                     # noqa: F401
    import boardkit                 # noqa: F401
    from lwm2m.formats import tlv, senml_json, senml_cbor, lwm2m_cbor, text  # noqa: F401
    gc.collect()
    then(after)


def after():
    gc.collect()
    print("CODE_HEAP", gc.mem_alloc() - got["a0"])


then(before)
mp32.run()
