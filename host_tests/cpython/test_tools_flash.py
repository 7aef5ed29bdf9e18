"""tools/flash.py without a board: arguments, image checks, the exact esptool
command lines per chip, and one-line messages for the usual failures."""
import io
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.append(os.path.join(ROOT, "tools"))    # after lib/: tools/coap.py is not coap

import flash  # noqa: E402

CHIP_ID = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9}


def image(tmp_path, chip="esp32", magic=0xE9, name=None):
    """A file that starts like an ESP image built for `chip` (esp_image_header_t)."""
    head = bytearray(64)
    head[0] = magic
    head[1] = 3
    head[12] = CHIP_ID[chip]
    path = tmp_path / (name or "%s-micropython.bin" % chip)
    path.write_bytes(bytes(head) + b"\xff" * 1024)
    return str(path)


def no_run(*a, **k):
    raise AssertionError("ran %r" % (a,))


def dry(tmp_path, chip, *extra, img=None):
    out = io.StringIO()
    img = img or image(tmp_path, chip)
    rc = flash.main(["--port", "/dev/ttyUSB0", "--chip", chip, img, "--dry-run",
                     "--esptool", "esptool"] + list(extra), runner=no_run, out=out)
    return rc, [l[2:] for l in out.getvalue().splitlines() if l.startswith("$ ")], img


@pytest.mark.parametrize("chip, offset", [("esp32", "0x1000"), ("esp32s2", "0x1000"),
                                          ("esp32c3", "0x0"), ("esp32s3", "0x0")])
def test_dry_run_commands_per_chip(tmp_path, chip, offset):
    rc, cmds, img = dry(tmp_path, chip)
    assert rc == 0
    assert cmds == [
        "esptool --chip %s --port /dev/ttyUSB0 erase-flash" % chip,
        "esptool --chip %s --port /dev/ttyUSB0 --baud 460800 write-flash %s %s"
        % (chip, offset, img),
        "esptool --chip %s --port /dev/ttyUSB0 --baud 460800 verify-flash %s %s"
        % (chip, offset, img),
    ]


def test_dry_run_no_erase_and_baud(tmp_path):
    rc, cmds, img = dry(tmp_path, "esp32", "--no-erase", "--baud", "115200")
    assert rc == 0
    assert cmds == [
        "esptool --chip esp32 --port /dev/ttyUSB0 --baud 115200 write-flash 0x1000 " + img,
        "esptool --chip esp32 --port /dev/ttyUSB0 --baud 115200 verify-flash 0x1000 " + img]


@pytest.mark.parametrize("argv", [
    [],
    ["--port", "/dev/ttyUSB0", "--chip", "esp32"],                  # no image
    ["--chip", "esp32", "x.bin"],                                    # no port
    ["--port", "/dev/ttyUSB0", "x.bin"],                             # no chip
    ["--port", "/dev/ttyUSB0", "--chip", "esp8266", "x.bin"],
    ["--port", "/dev/ttyUSB0", "--chip", "esp32", "x.bin", "--baud", "fast"],
    ["--port", "/dev/ttyUSB0", "--chip", "esp32", "x.bin", "--baud", "0"],
])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        flash.main(argv, runner=no_run)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_missing_image(tmp_path, capsys):
    rc = flash.main(["--port", "/dev/ttyUSB0", "--chip", "esp32",
                     str(tmp_path / "nope.bin"), "--dry-run"], runner=no_run)
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert err == "flash: error: image missing: %s (download it from " \
                  "micropython.org/download)" % (tmp_path / "nope.bin")
    assert "\n" not in err


def test_not_an_esp_image(tmp_path, capsys):
    img = image(tmp_path, magic=0x7F, name="firmware.uf2")
    rc = flash.main(["--port", "/dev/ttyUSB0", "--chip", "esp32", img], runner=no_run)
    assert rc == 1
    assert "is not an ESP firmware image" in capsys.readouterr().err


def test_image_for_another_chip(tmp_path, capsys):
    img = image(tmp_path, "esp32c3")
    rc = flash.main(["--port", "/dev/ttyUSB0", "--chip", "esp32", img], runner=no_run)
    assert rc == 1
    assert ("is an image for ESP32-C3, not ESP32: download the ESP32 image or pass "
            "--chip esp32c3") in capsys.readouterr().err


def test_no_such_port(tmp_path, capsys):
    rc = flash.main(["--port", "/dev/ttyNOPE42", "--chip", "esp32", image(tmp_path)],
                    runner=no_run)
    assert rc == 1
    assert capsys.readouterr().err.startswith("flash: error: no such port: /dev/ttyNOPE42")


def test_port_permission_denied(monkeypatch):
    monkeypatch.setattr(flash.os, "access", lambda p, m: False)
    with pytest.raises(flash.FlashError, match="permission denied on /dev/null"):
        flash.check_port("/dev/null")


class Esptool:
    """Fake esptool: `answers` maps a subcommand to (returncode, output)."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.cmds = []

    def __call__(self, cmd, stdout=None, stderr=None, text=None):
        self.cmds.append(cmd)
        sub = [w for w in cmd if w.endswith("-flash")][0]
        rc, out = self.answers.get(sub, (0, "%s ok\n" % sub))
        return subprocess.CompletedProcess(cmd, rc, out)


def flash_run(tmp_path, tool, chip="esp32", port="COM4"):
    out = io.StringIO()
    rc = flash.main(["--port", port, "--chip", chip, image(tmp_path, chip),
                     "--esptool", "esptool"], runner=tool, out=out)
    return rc, out.getvalue()


def test_flash_runs_erase_write_verify_in_order(tmp_path):
    tool = Esptool()
    rc, text = flash_run(tmp_path, tool, "esp32c3")
    assert rc == 0
    assert [c[5] if c[5] != "--baud" else c[7] for c in tool.cmds] == \
        ["erase-flash", "write-flash", "verify-flash"]
    assert tool.cmds[1][-2] == "0x0"
    assert "[1/3] erasing the flash" in text and "[3/3] verifying" in text
    assert "verify-flash ok" in text


@pytest.mark.parametrize("sub, output, message", [
    ("erase-flash",
     "A fatal error occurred: This chip is ESP32-C3, not ESP32. Wrong chip argument?",
     "wrong chip: the board on COM4 is an ESP32-C3, not an ESP32; pass --chip esp32c3 "
     "with the ESP32-C3 image"),
    ("erase-flash",
     "A fatal error occurred: Could not open /dev/ttyUSB0, the port is busy or doesn't "
     "exist.\n([Errno 13] could not open port /dev/ttyUSB0: [Errno 13] Permission denied: "
     "'/dev/ttyUSB0')\nHint: Try to add user into dialout or uucp group.",
     "permission denied on COM4: add yourself to the dialout group"),
    ("erase-flash",
     "A fatal error occurred: Could not open COM4, the port is busy or doesn't exist.\n"
     "([Errno 2] could not open port COM4: [Errno 2] No such file or directory: 'COM4')",
     "no such port: COM4"),
    ("erase-flash",
     "A fatal error occurred: Failed to connect to ESP32: No serial data received.",
     "the board did not answer on COM4: hold BOOT"),
    ("verify-flash", "Verification failed.\nA fatal error occurred: Verify failed.",
     "verification failed"),
    ("write-flash", "something new went wrong", "esptool failed while writing the image "
     "(exit status 2); its output is above"),
])
def test_failures_get_one_line(tmp_path, capsys, sub, output, message):
    tool = Esptool({sub: (2, output)})
    rc, text = flash_run(tmp_path, tool)
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("flash: error: " + message)
    assert err.count("\n") == 1
    assert output.splitlines()[0] in text            # esptool's own words are shown too
    ran = [w for c in tool.cmds for w in c if w.endswith("-flash")]
    assert ran[-1] == sub                            # nothing runs after a failure


def test_esptool_missing(tmp_path, capsys):
    def missing(cmd, **k):
        raise FileNotFoundError(cmd[0])
    rc, _ = flash_run(tmp_path, missing)
    assert rc == 1
    assert "esptool not found: pip install esptool" in capsys.readouterr().err


def test_installed_esptool_knows_the_commands():
    """The pinned esptool has the subcommands and options the tool uses."""
    exe = flash.find_esptool()
    for sub in ("erase-flash", "write-flash", "verify-flash"):
        p = subprocess.run(exe + [sub, "--help"], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    from esptool.targets import CHIP_DEFS
    assert set(flash.CHIPS) <= set(CHIP_DEFS)


def test_offsets_and_chip_ids_agree_with_esptool():
    """Our table (offset, image chip id, name) matches esptool's own chip definitions."""
    from esptool.targets import CHIP_DEFS
    for chip, (offset, chip_id, name) in flash.CHIPS.items():
        d = CHIP_DEFS[chip]
        assert (offset, chip_id, name) == (d.BOOTLOADER_FLASH_OFFSET, d.IMAGE_CHIP_ID,
                                           d.CHIP_NAME)
