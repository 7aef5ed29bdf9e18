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


def _frames(tmp_path, source, frames, heapsize=None):
    """run.mjs --frames on `source`: send `frames` [(kind, body)], read one
    reply frame each; (replies, exit code)."""
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent(source))
    argv = [NODE, os.path.join(HERE, "run.mjs"), "--frames"]
    if heapsize is not None:
        argv += ["--heapsize", str(heapsize)]
    p = subprocess.Popen(argv + [str(script)], cwd=ROOT, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    replies = []
    try:
        for kind, body in frames:
            p.stdin.write(kind + len(body).to_bytes(4, "big") + body)
            p.stdin.flush()
            head = p.stdout.read(5)
            if len(head) < 5:
                break
            replies.append((head[:1], p.stdout.read(int.from_bytes(head[1:], "big"))))
        p.stdin.close()
        return replies, p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_frames_are_steps_with_a_collection_before_each(mp32, tmp_path):
    replies, rc = _frames(tmp_path, """
        import gc, mp32
        def handle(kind, body, live):
            if kind == b"Q":
                return None
            junk = [bytearray(1000) for i in range(50)]     # garbage, gone by the next frame
            print("on stderr")
            return b"K", b"%d %s" % (live, body)
        mp32.serve(handle)
        """, [(b"A", b"one"), (b"B", b"two"), (b"Q", b"")])
    assert rc == 0 and len(replies) == 2, replies
    (k1, r1), (k2, r2) = replies
    assert (k1, r1.split()[1], r2.split()[1]) == (b"K", b"one", b"two")
    assert abs(int(r2.split()[0]) - int(r1.split()[0])) < 2000      # not 50 KB more


def test_a_full_heap_inside_a_frame_is_an_M_frame_not_a_hang(mp32, tmp_path):
    # the garbage of a frame cannot be collected before it returns, so even the
    # handler's own reply fails; run.mjs must still answer (it used to spin)
    replies, rc = _frames(tmp_path, """
        import mp32
        keep = []
        def handle(kind, body, live):
            while True:
                keep.append(bytearray(1000))
        mp32.serve(handle)
        """, [(b"A", b"")], heapsize=64 * 1024)
    assert replies == [(b"M", b"MemoryError")] and rc == 1


def test_cryptolib_stand_in_allocates_nothing_per_call(mp32, tmp_path):
    r = mp32(tmp_path, """
        import cryptolib, binascii, gc, micropython
        k = cryptolib.aes(binascii.unhexlify(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), 1)
        x = bytearray(binascii.unhexlify("00112233445566778899aabbccddeeff"))
        k.encrypt(x, x)
        print(binascii.hexlify(x).decode())
        y = bytearray(64)
        m = memoryview(y)[16:32]
        for n in (1, 10):
            a0 = gc.mem_alloc()
            micropython.heap_lock()
            for i in range(n):
                k.encrypt(y, y)
                k.encrypt(m, m)
            micropython.heap_unlock()
            print(gc.mem_alloc() - a0)
        """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "8ea2b7ca516745bfeafc49904b496089"        # FIPS-197 C.3
    assert lines[1] == lines[2]                                   # no bytes per call
