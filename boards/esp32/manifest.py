# Custom ESP32 / ESP32-C3 / ESP32-S3 firmware with the node frozen in.
# From a MicroPython checkout with ESP-IDF set up (see boards/README.md):
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=$PWD/../this-repo/boards/esp32/manifest.py
# (BOARD=ESP32_GENERIC_C3 or ESP32_GENERIC_S3 for those chips).
include("$(PORT_DIR)/boards/manifest.py")       # what stock firmware freezes: asyncio, onewire, ...
include("../../firmware/manifest.py", sim=False, aiorepl=True)
module("boardkit.py", base_path="../common")
module("board.py")
