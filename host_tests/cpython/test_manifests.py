"""The freeze manifests (firmware/manifest.py, boards/<name>/manifest.py) are valid
and complete: run them with a stand-in for MicroPython's manifestfile API (the
`Manifest` class in tools/deploy.py, which tools/deploy.py also uses to pick the
files it copies) and check that every path they name exists, that every lib/
module a board needs is frozen, and that everything the frozen modules import is
either frozen too or provided by the MicroPython firmware."""
import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.append(os.path.join(ROOT, "tools"))    # after lib/: tools/coap.py is not coap

from deploy import Manifest, ManifestError  # noqa: E402

LIB = os.path.join(ROOT, "lib")
BOARDS = ("esp32", "rp2_pico_w", "unix")
HOST_ONLY = {"esp32": {"drivers/sim.py"}, "rp2_pico_w": {"drivers/sim.py"}, "unix": set()}
EXTERNAL = {"esp32": ["$(PORT_DIR)/boards/manifest.py"],
            "rp2_pico_w": ["$(BOARD_DIR)/manifest.py"],
            "unix": ["$(PORT_DIR)/variants/standard/manifest.py"]}
REQUIRES = {"esp32": ["aiorepl"], "rp2_pico_w": ["aiorepl"], "unix": []}
# Modules that MicroPython firmware provides (built in or frozen by the stock port
# manifests), each also under its old u-prefixed name; `micropython` also has a
# CPython shim in tools/shims for host tests.
FIRMWARE_MODULES = {
    "array", "asyncio", "binascii", "collections", "cryptolib", "errno", "gc", "hashlib",
    "io", "json", "machine", "math", "micropython", "network", "os", "random", "re",
    "select", "socket", "struct", "sys", "time", "onewire", "esp32", "rp2", "aiorepl",
    "deflate", "heapq", "platform", "vfs", "ssl", "tls", "secrets",
}


def run(board):
    return Manifest().execute(os.path.join(ROOT, "boards", board, "manifest.py"))


def lib_modules():
    out = set()
    for dirpath, dirnames, names in os.walk(LIB):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                out.add(os.path.relpath(os.path.join(dirpath, name), LIB).replace(os.sep, "/"))
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_manifest_runs_and_names_existing_files(board):
    m = run(board)
    assert m.files, "nothing frozen"
    for full, target in m.files:
        assert os.path.isfile(full), full
        assert target.endswith(".py") and not target.startswith("/")
    assert m.external == EXTERNAL[board]
    assert m.requires == REQUIRES[board]
    assert os.path.join(ROOT, "firmware", "manifest.py") in m.manifests


@pytest.mark.parametrize("board", BOARDS)
def test_every_lib_module_the_board_needs_is_frozen(board):
    m = run(board)
    frozen = {t for full, t in m.files if full.startswith(LIB + os.sep)}
    want = lib_modules() - HOST_ONLY[board]
    assert sorted(want - frozen) == [], "missing from the manifest"
    assert sorted(frozen - want) == [], "frozen but host-only"
    targets = {t: full for full, t in m.files}
    assert targets["board.py"] == os.path.join(ROOT, "boards", board, "board.py")
    assert targets["boardkit.py"] == os.path.join(ROOT, "boards", "common", "boardkit.py")
    for name in os.listdir(os.path.join(ROOT, "firmware")):
        if name.endswith(".py") and name not in ("main.py", "manifest.py"):
            assert name in targets, "firmware/%s not frozen" % name
    assert "main.py" not in targets     # main.py stays on the filesystem


def _imports(path, package):
    """(module, lazy) for each module the file imports (relative imports resolved);
    lazy: the import is inside a function, so it runs only when that is called."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    lazy = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lazy.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, id(node) in lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            yield mod, id(node) in lazy
            for a in node.names:        # "from pkg import module"
                yield mod + "." + a.name, id(node) in lazy


@pytest.mark.parametrize("board", BOARDS)
def test_frozen_modules_import_only_frozen_or_firmware_modules(board):
    """A host-only module (drivers.sim on a board) may be imported lazily only: the
    board then fails with a clear error if a config asks for a simulated device."""
    m = run(board)
    frozen = set()
    for _, target in m.files:
        name = target[:-3].replace("/", ".")
        frozen.add(name[:-9] if name.endswith(".__init__") else name)
    ours = {n.split(".")[0] for n in frozen}
    host_only = {t[:-3].replace("/", ".") for t in HOST_ONLY[board]}
    sources = list(m.files)
    main = os.path.join(ROOT, "firmware", "main.py")
    if os.path.isfile(main):
        sources.append((main, "main.py"))
    missing = []
    for full, target in sources:
        name = target[:-3].replace("/", ".")
        package = name if target.endswith("__init__.py") else name.rpartition(".")[0]
        for mod, lazy in _imports(full, package or name):
            top = mod.split(".")[0]
            if mod in frozen or mod.rsplit(".", 1)[0] in frozen:
                continue
            if top in FIRMWARE_MODULES or (top[:1] == "u" and top[1:] in FIRMWARE_MODULES):
                continue
            if top in ours:
                # A module of ours that lib/ holds must be frozen (a host-only one may
                # only be imported lazily). One lib/ does not hold yet is no manifest
                # matter: the package that imports it is still being written.
                if in_lib(mod) and not (lazy and (mod in host_only or
                                                  mod.rsplit(".", 1)[0] in host_only)):
                    missing.append((target, mod))
                continue
            missing.append((target, mod))          # neither ours nor the firmware's
    assert missing == []


def in_lib(mod):
    path = os.path.join(LIB, *mod.split("."))
    return os.path.isfile(path + ".py") or os.path.isdir(path)


# -- the stand-in itself ----------------------------------------------------------
def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_stand_in_records_files_options_and_externals(tmp_path):
    write(tmp_path / "lib" / "pkg" / "__init__.py", "")
    write(tmp_path / "lib" / "pkg" / "sub" / "a.py", "")
    write(tmp_path / "lib" / "top.py", "")
    write(tmp_path / "inner" / "manifest.py",
          "options.defaults(extra=False)\n"
          "package('pkg', base_path='../lib')\n"
          "if options.extra:\n    module('top.py', base_path='../lib')\n")
    top = write(tmp_path / "manifest.py",
                "include('$(MPY_DIR)/extmod/asyncio')\n"
                "include('inner', extra=True)\n"
                "require('aiorepl')\n")
    m = Manifest().execute(top)
    assert sorted(t for _, t in m.files) == ["pkg/__init__.py", "pkg/sub/a.py", "top.py"]
    assert m.external == ["$(MPY_DIR)/extmod/asyncio"]
    assert m.requires == ["aiorepl"]


@pytest.mark.parametrize("body, message", [
    ("module('nope.py')", "no such file"),
    ("package('nopkg')", "no directory"),
    ("include('missing/manifest.py')", "no manifest"),
    ("module('a.txt')", "must be .py"),
    ("metadata(version='1')\nmetadata(version='2')", "Duplicate call to metadata"),
    ("module('a.py')\nmodule('a.py', base_path='other')", "both freeze as a.py"),
])
def test_stand_in_rejects_broken_manifests(tmp_path, body, message):
    write(tmp_path / "a.py", "")
    write(tmp_path / "other" / "a.py", "")
    path = write(tmp_path / "manifest.py", body + "\n")
    with pytest.raises(ManifestError, match=message):
        Manifest().execute(path)


def test_manifests_restore_the_working_directory():
    cwd = os.getcwd()
    run("esp32")
    assert os.getcwd() == cwd
