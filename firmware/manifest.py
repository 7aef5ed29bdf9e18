# Freeze manifest for the node's own modules (MicroPython manifest API:
# docs/reference/manifest.rst). Not used on its own: boards/<name>/manifest.py
# includes the port's manifest and then this file, with options:
#   sim=True      also freeze drivers/sim.py (the unix board's simulated devices)
#   aiorepl=True  also freeze aiorepl from micropython-lib (an asyncio REPL)
# Paths are relative to this file. lib/ maps to the top level of the frozen
# modules ("import coap.message"), as it maps to /lib on a board's filesystem.
# firmware/main.py is not frozen: the board runs main.py from its filesystem
# (tools/deploy.py copies it), where it can be changed without a rebuild.
import os

options.defaults(sim=False, aiorepl=True)

LIB = "../lib"
HOST_ONLY = () if options.sim else ("sim.py",)

module("cbor.py", base_path=LIB)
for name in ("coap", "oscore", "lwm2m", "transport"):
    package(name, base_path=LIB)
package("drivers", base_path=LIB,
        files=sorted(f for f in os.listdir(LIB + "/drivers")
                     if f.endswith(".py") and f not in HOST_ONLY))

# Board-independent start-up modules beside this manifest (all but main.py).
for name in sorted(os.listdir(".")):
    if name.endswith(".py") and name not in ("main.py", "manifest.py"):
        module(name)

if options.aiorepl:
    require("aiorepl")
