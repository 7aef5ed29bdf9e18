# A unix-port MicroPython with the node frozen in (simulated devices).
# From a MicroPython checkout (see boards/README.md):
#   make -C ports/unix FROZEN_MANIFEST=$PWD/../this-repo/boards/unix/manifest.py
# Frozen, board.py has no config.json beside it: pass the whole config to setup().
include("$(PORT_DIR)/variants/standard/manifest.py")   # the standard variant: asyncio
include("../../firmware/manifest.py", sim=True, aiorepl=False)
module("boardkit.py", base_path="../common")
module("board.py")
