"""Flash a stock MicroPython image onto an ESP32 with esptool.

    python tools/flash.py --port /dev/ttyUSB0 --chip esp32 IMAGE.bin [--dry-run]
                          [--baud 460800] [--no-erase] [--esptool CMD]

IMAGE.bin is the firmware you downloaded from micropython.org for your board
(e.g. ESP32_GENERIC-20250415-v1.25.0.bin). Three esptool runs:
 1. erase the whole flash       esptool --chip C --port P erase-flash
 2. write the image             esptool --chip C --port P --baud B write-flash OFFSET IMAGE
 3. verify it against the flash esptool --chip C --port P --baud B verify-flash OFFSET IMAGE

The offset is where the image's bootloader goes, as MicroPython's download pages
say: 0x1000 on the ESP32 (and ESP32-S2), 0x0 on the ESP32-C3 and ESP32-S3.
Before touching the board the image is checked: it must exist, be readable and
start like an ESP image (magic byte 0xE9) built for the chip asked for (the
image header names its chip), and the port must exist and be ours to open.

Failures get one line on stderr: no such port, permission denied on the port,
wrong chip detected, image missing or not for this chip, board not answering.
Exit status: 0 flashed, 1 failed, 2 bad arguments. --dry-run prints the three
commands and runs none (the image is still checked).
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

# chip -> (offset of the image, esp_chip_id_t in the image header, name in esptool)
CHIPS = {
    "esp32": (0x1000, 0x0000, "ESP32"),
    "esp32s2": (0x1000, 0x0002, "ESP32-S2"),
    "esp32c3": (0x0, 0x0005, "ESP32-C3"),
    "esp32s3": (0x0, 0x0009, "ESP32-S3"),
}
CHIP_IDS = dict((v[1], (k, v[2])) for k, v in CHIPS.items())
ESP_IMAGE_MAGIC = 0xE9


class FlashError(Exception):
    """A failure with a one-line message for the user; exit status 1."""


def find_esptool():
    here = os.path.join(os.path.dirname(sys.executable), "esptool")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return [here]
    found = shutil.which("esptool")
    return [found] if found else [sys.executable, "-m", "esptool"]


def check_image(path, chip):
    """FlashError unless `path` is a readable ESP image for `chip`. The header
    (esp_image_header_t) has the magic at 0 and the chip id (LE u16) at 12."""
    if not os.path.exists(path):
        raise FlashError("image missing: %s (download it from micropython.org/download)"
                         % path)
    if not os.path.isfile(path):
        raise FlashError("image is not a file: %s" % path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise FlashError("cannot read image %s: %s" % (path, e.strerror or e))
    if len(head) < 16 or head[0] != ESP_IMAGE_MAGIC:
        raise FlashError("%s is not an ESP firmware image (it should start with byte "
                         "0xE9): take the .bin file from the board's download page" % path)
    chip_id = head[12] | head[13] << 8
    want = CHIPS[chip][1]
    if chip_id != want and chip_id in CHIP_IDS:
        raise FlashError("%s is an image for %s, not %s: download the %s image or pass "
                         "--chip %s" % (path, CHIP_IDS[chip_id][1], CHIPS[chip][2],
                                         CHIPS[chip][2], CHIP_IDS[chip_id][0]))


def check_port(port):
    """FlashError for a device path that is missing or that we may not open."""
    if not port.startswith("/dev/"):
        return          # COM3, rfc2217://...: esptool reports those itself
    if not os.path.exists(port):
        raise FlashError("no such port: %s (is the board plugged in? `python -m "
                         "serial.tools.list_ports` lists the ports)" % port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise FlashError("permission denied on %s: add yourself to the group that owns "
                         "it (e.g. sudo usermod -aG dialout $USER) and log in again" % port)


def commands(esptool, port, chip, image, baud, erase=True):
    """The esptool command lines, in order, as lists."""
    base = list(esptool) + ["--chip", chip, "--port", port]
    offset = "0x%x" % CHIPS[chip][0]
    cmds = []
    if erase:
        cmds.append(base + ["erase-flash"])
    cmds.append(base + ["--baud", str(baud), "write-flash", offset, image])
    cmds.append(base + ["--baud", str(baud), "verify-flash", offset, image])
    return cmds


def explain(output, port, chip):
    """One line for esptool's usual failures, from what it printed; None if unknown."""
    m = re.search(r"This chip is ([\w-]+), not ([\w-]+)", output)
    if m:
        return ("wrong chip: the board on %s is an %s, not an %s; pass --chip %s with "
                "the %s image" % (port, m.group(1), m.group(2),
                                  m.group(1).lower().replace("-", ""), m.group(1)))
    if re.search(r"Permission denied", output, re.I):
        return ("permission denied on %s: add yourself to the dialout group "
                "(sudo usermod -aG dialout $USER) and log in again" % port)
    if re.search(r"Errno 2|FileNotFoundError|No such file or directory", output):
        return "no such port: %s (is the board plugged in?)" % port
    if re.search(r"port is busy|Access is denied|Resource busy|Errno 16", output, re.I):
        return ("port busy: %s is open in another program (mpremote, a serial "
                "terminal, Thonny); close it and try again" % port)
    if re.search(r"Failed to connect|No serial data received|Wrong boot mode", output):
        return ("the board did not answer on %s: hold BOOT, press and release RESET (EN), "
                "release BOOT, then try again" % port)
    if re.search(r"Verify failed|Verification failed|does not match data in flash", output):
        return "verification failed: the flash does not hold the image; flash again"
    return None


def run(cmd, runner, out):
    """Run one esptool command, echoing its output; (returncode, output)."""
    print("$ " + shlex.join(cmd), file=out)
    out.flush()
    try:
        p = runner(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise FlashError("esptool not found: pip install esptool (or make setup)")
    text = p.stdout or ""
    if text:
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()
    return p.returncode, text


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="tools/flash.py",
        description="Erase an ESP32, write a stock MicroPython image at the chip's "
                    "offset, verify it.")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or COM3")
    p.add_argument("--chip", required=True, choices=sorted(CHIPS),
                   help="the chip on the board (esptool's name)")
    p.add_argument("image", metavar="IMAGE.bin", help="MicroPython firmware image")
    p.add_argument("--baud", type=int, default=460800,
                   help="baud rate for writing (default 460800; try 115200 if it fails)")
    p.add_argument("--no-erase", action="store_true",
                   help="keep the flash (and the filesystem's files): write and verify only")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    p.add_argument("--esptool", metavar="CMD",
                   help="esptool command (default: the one installed with this Python)")
    args = p.parse_args(argv)
    if args.baud <= 0:
        p.error("--baud must be positive")
    return args


def main(argv=None, runner=subprocess.run, out=None):
    out = out or sys.stdout
    args = parse_args(sys.argv[1:] if argv is None else argv)
    esptool = shlex.split(args.esptool) if args.esptool else find_esptool()
    try:
        check_image(args.image, args.chip)
        cmds = commands(esptool, args.port, args.chip, args.image, args.baud,
                        erase=not args.no_erase)
        if args.dry_run:
            print("dry run: the image is fine; these commands would run:", file=out)
            for cmd in cmds:
                print("$ " + shlex.join(cmd), file=out)
            return 0
        check_port(args.port)
        steps = ("erasing the flash", "writing the image", "verifying")[-len(cmds):]
        for i, (cmd, what) in enumerate(zip(cmds, steps)):
            print("[%d/%d] %s" % (i + 1, len(cmds), what), file=out)
            rc, text = run(cmd, runner, out)
            if rc != 0:
                raise FlashError(explain(text, args.port, args.chip)
                                 or "esptool failed while %s (exit status %d); its "
                                    "output is above" % (what, rc))
        print("done: MicroPython is on the board; deploy the node with "
              "python tools/deploy.py --port %s --board esp32" % args.port, file=out)
        return 0
    except FlashError as e:
        out.flush()
        print("flash: error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
