"""tools/mp32/run.mjs: a 32-bit (wasm32) MicroPython under Node.js (npm
@micropython/micropython-webassembly-pyscript, pinned in
tools/mp32/package.json) for measuring heap as on a 32-bit board.

Checks a tiny script's gc.mem_alloc() and word size, the exit codes (normal,
SystemExit, uncaught exception, MemoryError under a small --heapsize), that
mp32.then() steps get a real collection between them (the build collects
nowhere else), and the cryptolib stand-in against FIPS-197.

Node.js and npm are required: the test skips only when one of them is not on
PATH. The first run installs the pinned package (`npm ci`) when
tools/mp32/node_modules is missing."""
import os
import shutil
import subprocess
import textwrap

import pytest

from host_tests.cpython.procs import ROOT

HERE = os.path.join(ROOT, "tools", "mp32")
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = pytest.mark.skipif(not (NODE and NPM),
                                reason="tools/mp32 needs Node.js and npm on PATH "
                                       "(node=%r, npm=%r)" % (NODE, NPM))


@pytest.fixture(scope="module")
def mp32():
    pkg = os.path.join(HERE, "node_modules", "@micropython",
                       "micropython-webassembly-pyscript", "micropython.mjs")
    if not os.path.exists(pkg):
        r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=HERE,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "npm ci in %s failed:\n%s%s" % (HERE, r.stdout, r.stderr)
    assert os.path.exists(pkg)

    def run(tmp_path, source, *args, heapsize=None):
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(source))
        argv = [NODE, os.path.join(HERE, "run.mjs")]
        if heapsize is not None:
            argv += ["--heapsize", str(heapsize)]
        return subprocess.run(argv + [str(script)] + list(args), cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    return run


def test_a_tiny_script_runs_on_a_32_bit_micropython(mp32, tmp_path):
    r = mp32(tmp_path, """
        import sys, gc, mp32
        print("impl", sys.implementation.name, sys.platform, sys.maxsize)
        print("argv", mp32.argv[1:])
        a0 = gc.mem_alloc()
        keep = [None] * 1000
        print("alloc", gc.mem_alloc() - a0)
        """, "one", "two")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["impl"] == "micropython webassembly %d" % (2 ** 31 - 1)   # 32-bit words
    assert lines["argv"] == "['one', 'two']"
    # a list of 1000 slots: 4000 bytes of items on 32 bits (8000 on the unix port)
    assert 4000 <= int(lines["alloc"]) < 4200


def test_steps_get_a_real_collection_between_them(mp32, tmp_path):
    r = mp32(tmp_path, """
        import gc, mp32
        g = {}
        def after():
            print("after", gc.mem_alloc() - g["a0"])
        gc.collect()
        g["a0"] = gc.mem_alloc()
        for i in range(200):
            x = bytearray(1000)
        x = None
        gc.collect()            # only marks a collection as pending in this build
        print("garbage", gc.mem_alloc() - g["a0"])
        mp32.then(after)
        """)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert int(lines["garbage"]) >= 200000
    assert int(lines["after"]) < 2000


def test_exit_codes(mp32, tmp_path):
    r = mp32(tmp_path, """
        def f():
            raise ValueError("boom")
        print("before")
        f()
        """)
    assert r.returncode == 1
    assert r.stdout == "before\n"
    assert "ValueError: boom" in r.stderr and "script.py" in r.stderr
    r = mp32(tmp_path, "import sys\nsys.exit(3)\n")
    assert (r.returncode, r.stderr) == (3, "")
    r = mp32(tmp_path, "raise SystemExit('bye')\n")
    assert (r.returncode, r.stderr) == (1, "bye\n")
    r = mp32(tmp_path, "import mp32\ndef later():\n    raise KeyError(7)\nmp32.then(later)\n")
    assert r.returncode == 1 and "KeyError: 7" in r.stderr


GROW = """
    keep = []
    for i in range(150):
        keep.append(bytearray(1000))
    print("kept", len(keep))
    """


def test_memory_error_under_a_small_heap(mp32, tmp_path):
    r = mp32(tmp_path, GROW, heapsize=64 * 1024)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "MemoryError" in r.stderr
    assert "kept" not in r.stdout
    r = mp32(tmp_path, GROW, heapsize=256 * 1024)
    assert (r.returncode, r.stdout) == (0, "kept 150\n"), r.stderr
    r = mp32(tmp_path, GROW)                        # no --heapsize: the heap grows
    assert (r.returncode, r.stdout) == (0, "kept 150\n"), r.stderr


def test_cryptolib_stand_in_is_aes(mp32, tmp_path):
    r = mp32(tmp_path, """
        import cryptolib, binascii
        a = cryptolib.aes(binascii.unhexlify("000102030405060708090a0b0c0d0e0f"), 1)
        x = bytearray(binascii.unhexlify("00112233445566778899aabbccddeeff"))
        a.encrypt(x, x)
        print(binascii.hexlify(x).decode())
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "69c4e0d86a7b0430d8cdb78070b4c55a\n"     # FIPS-197 C.1
