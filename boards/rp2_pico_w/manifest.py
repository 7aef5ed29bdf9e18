# Custom Raspberry Pi Pico W firmware with the node frozen in.
# From a MicroPython checkout (see boards/README.md):
#   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=$PWD/../this-repo/boards/rp2_pico_w/manifest.py
include("$(BOARD_DIR)/manifest.py")             # RPI_PICO_W's own: port modules + networking
include("../../firmware/manifest.py", sim=False, aiorepl=True)
module("boardkit.py", base_path="../common")
module("board.py")
