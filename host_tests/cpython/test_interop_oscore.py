"""OSCORE interop on loopback with aiocoap, an independent implementation.

Our side runs on the unix-port MicroPython as subprocesses (tools/coap.py --oscore,
tools/coapd.py --oscore); aiocoap runs in this process with file-backed security
contexts (aiocoap.oscore.FilesystemSecurityContext), the server behind
aiocoap.oscore_sitewrapper.OscoreSiteWrapper. Covered: our client -> aiocoap server (GET,
POST, block-wise, Observe); aiocoap server restarted after a crash (4.01 + Echo) and our
client recovering; aiocoap client -> our server (methods, block-wise, Observe, Echo after
our restart); a replayed datagram rejected by our server; CLI argument errors.
"""
import asyncio
import json
import os
import socket
import subprocess
import warnings

import pytest
import aiocoap
import aiocoap.resource as resource
from aiocoap import oscore as aio
from aiocoap.credentials import CredentialsMap
from aiocoap.message import Message as AioMessage
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper
from aiocoap.transports.oscore import OSCOREAddress

from host_tests.cpython.aiopeer import BIG, Clock, observe
from host_tests.cpython.procs import MICROPYTHON, ROOT, free_port, start_line_process

SECRET = bytes(range(1, 17))
SALT = bytes.fromhex("9e7ca92223786340")
OURS = b"\x01"          # Sender ID of our side
THEIRS = b"\x02"        # Sender ID of aiocoap's side


def spec(sender, recipient, id_context=b""):
    text = "%s:%s:%s:%s" % (SECRET.hex(), SALT.hex(), sender.hex(), recipient.hex())
    return text + (":" + id_context.hex() if id_context else "")


def fs_context(basedir, sender, recipient):
    """An aiocoap file-backed context (settings.json as its docs describe)."""
    if not os.path.exists(os.path.join(basedir, "settings.json")):
        os.makedirs(basedir, exist_ok=True)
        with open(os.path.join(basedir, "settings.json"), "w") as f:
            json.dump({"secret_hex": SECRET.hex(), "salt_hex": SALT.hex(),
                       "sender-id_hex": sender.hex(), "recipient-id_hex": recipient.hex()}, f)
    return aio.FilesystemSecurityContext(str(basedir))


def crash(fsctx):
    """Let the context go the way a killed process does: its lock released, but no
    final write -- sequence.json keeps the replay window "unknown" (B.1.2)."""
    lock = fsctx.lockfile
    fsctx.lockfile = None
    path = lock.lock_file
    lock.release()
    if os.path.exists(path):
        os.unlink(path)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def cli(*args):
    proc = await asyncio.create_subprocess_exec(
        MICROPYTHON, "tools/coap.py", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode()
    assert SECRET.hex() not in text
    return proc.returncode, text


# -- aiocoap OSCORE server -----------------------------------------------------------

class Text(resource.Resource):
    def __init__(self, body, log):
        super().__init__()
        self.body = body
        self.log = log

    def _note(self, request):
        self.log.append(isinstance(request.remote, OSCOREAddress))

    async def render_get(self, request):
        self._note(request)
        return aiocoap.Message(payload=self.body, content_format=0)

    async def render_post(self, request):
        self._note(request)
        self.body += request.payload
        return aiocoap.Message(code=aiocoap.CREATED, location_path=("text", "1"))


class AioServer:
    def __init__(self, port, fsctx):
        self.port = port
        self.fsctx = fsctx
        self.log = []
        self.clock = Clock()
        self.ctx = None

    async def __aenter__(self):
        root = resource.Site()
        root.add_resource(["text"], Text(b"hello aiocoap", self.log))
        root.add_resource(["big"], Text(BIG, self.log))
        root.add_resource(["clock"], self.clock)
        creds = CredentialsMap()
        creds[":ours"] = self.fsctx
        self.ctx = await aiocoap.Context.create_server_context(
            OscoreSiteWrapper(root, creds), bind=("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *exc):
        if self.clock.task:
            self.clock.task.cancel()
        await self.ctx.shutdown()


def test_our_client_against_aiocoap_oscore_server(tmp_path):
    port = free_port()
    u = "coap://127.0.0.1:%d/" % port
    osc = ["--oscore", spec(OURS, THEIRS), "--state", str(tmp_path / "ours.json")]

    async def go():
        async with AioServer(port, fs_context(tmp_path / "aio", THEIRS, OURS)) as srv:
            results = [await cli("get", u + "text", *osc),
                       await cli("post", u + "text", "--payload", "+more", *osc),
                       await cli("get", u + "text", *osc),
                       await cli("get", u + "big", *osc),
                       await cli("get", u + "text", "--non", *osc),
                       await cli("get", u + "clock", "--observe", "4", "--timeout", "5", *osc)]
            return results, srv.log
    results, log = run(go())
    (rc0, get0), (rc1, post), (rc2, get1), (rc3, big), (rc4, non), (rc5, obs) = results
    assert rc0 == 0 and get0.splitlines()[:3] == ["2.05 Content", "Content-Format: 0",
                                                  "hello aiocoap"], get0
    assert rc1 == 0 and post.startswith("2.01 Created") and "Location-Path: /text/1" in post
    assert rc2 == 0 and "hello aiocoap+more" in get1
    assert rc3 == 0 and BIG.decode().strip() in big, big[-300:]
    assert rc4 == 0 and "hello aiocoap+more" in non
    assert rc5 == 0, obs
    values = [int(line) for line in obs.splitlines() if line.isdigit()]
    assert len(values) == 4 and values == sorted(values) and len(set(values)) == 4
    assert log and all(log)                 # every request reached the site through OSCORE
    state = json.loads((tmp_path / "ours.json").read_text())
    assert list(state.values()) == [6 * 64]  # one B.1.1 step per run, no keys stored
    assert SECRET.hex() not in (tmp_path / "ours.json").read_text()


def test_our_client_recovers_when_aiocoap_server_restarts_after_a_crash(tmp_path):
    port = free_port()
    u = "coap://127.0.0.1:%d/text" % port
    osc = ["--oscore", spec(OURS, THEIRS), "--state", str(tmp_path / "ours.json")]
    basedir = tmp_path / "aio"

    async def go():
        first = fs_context(basedir, THEIRS, OURS)
        async with AioServer(port, first):
            before = [await cli("get", u, *osc), await cli("get", u, *osc)]
        crash(first)
        again = fs_context(basedir, THEIRS, OURS)
        assert not again.recipient_replay_window.is_initialized()   # it will ask for Echo
        async with AioServer(port, again):
            after = [await cli("get", u, *osc), await cli("get", u, *osc)]
            synced = again.recipient_replay_window.is_initialized()
        return before, after, synced
    before, after, synced = run(go())
    for rc, out in before + after:
        assert rc == 0 and out.startswith("2.05 Content") and "hello aiocoap" in out, out
    assert synced                           # our retry with the Echo value was accepted


# -- aiocoap OSCORE client -> our server ------------------------------------------------

def start_coapd(port, state, *extra):
    return start_line_process(
        [MICROPYTHON, "tools/coapd.py", "--bind", "127.0.0.1:%d" % port, "--period", "150",
         "--duration", "60", "--oscore", spec(OURS, THEIRS), "--state", str(state)]
        + list(extra), "listening on")


@pytest.fixture
def coapd(tmp_path):
    port = free_port()
    proc = start_coapd(port, tmp_path / "coapd.json")
    yield port
    proc.kill()
    proc.wait()


async def aio_client(secctx, port):
    ctx = await aiocoap.Context.create_client_context()
    ctx.client_credentials["coap://127.0.0.1:%d/*" % port] = secctx
    return ctx


async def _request(ctx, code, uri, payload=b"", **opts):
    return await ctx.request(aiocoap.Message(code=code, uri=uri, payload=payload,
                                             **opts)).response


def test_aiocoap_client_against_our_oscore_server(coapd, tmp_path):
    base = "coap://127.0.0.1:%d/" % coapd
    upload = bytes(range(256)) * 12                  # 3072 bytes -> Block1

    async def go():
        ctx = await aio_client(fs_context(tmp_path / "aio", THEIRS, OURS), coapd)
        try:
            r = await _request(ctx, aiocoap.GET, base + "hello")
            assert r.code == aiocoap.CONTENT and r.payload == b"Hello from MicroPython"
            assert isinstance(r.remote, OSCOREAddress)          # it came back protected
            r = await _request(ctx, aiocoap.PUT, base + "store", upload)
            assert r.code == aiocoap.CHANGED
            r = await _request(ctx, aiocoap.POST, base + "store", b"+")
            assert r.code == aiocoap.CREATED
            r = await _request(ctx, aiocoap.GET, base + "store")
            assert r.payload == upload + b"+"
            r = await _request(ctx, aiocoap.GET, base + "big")
            assert r.payload == BIG
            r = await _request(ctx, aiocoap.DELETE, base + "store")
            assert r.code == aiocoap.DELETED
            r = await _request(ctx, aiocoap.GET, base + "nothing")
            assert r.code == aiocoap.NOT_FOUND
            _, values = await observe(ctx, base + "counter")
            assert values == sorted(values) and len(set(values)) == 5
        finally:
            await ctx.shutdown()
    run(go())


def test_aiocoap_client_recovers_when_our_server_restarts(tmp_path):
    port = free_port()
    state = tmp_path / "coapd.json"
    uri = "coap://127.0.0.1:%d/hello" % port

    theirs = fs_context(tmp_path / "aio", THEIRS, OURS)

    async def one_get():
        ctx = await aio_client(theirs, port)
        try:
            return await _request(ctx, aiocoap.GET, uri)
        finally:
            await ctx.shutdown()
    proc = start_coapd(port, state)
    try:
        assert run(one_get()).payload == b"Hello from MicroPython"
    finally:
        proc.kill()                      # no clean shutdown: a crash
        proc.wait()
    saved = json.loads(state.read_text())
    proc = start_coapd(port, state)
    try:
        r = run(one_get())
        assert r.code == aiocoap.CONTENT and r.payload == b"Hello from MicroPython"
    finally:
        proc.kill()
        proc.wait()
    # the restarted server used a Partial IV of its own (the 4.01 + Echo): one more step
    assert list(json.loads(state.read_text()).values())[0] > list(saved.values())[0]


def _datagram(outer, mid, token):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        outer.mtype = Type.CON
        outer.mid = mid
        outer.token = token
    return outer.encode()


def test_replayed_request_is_rejected_by_our_server(coapd, tmp_path):
    theirs = fs_context(tmp_path / "aio", THEIRS, OURS)
    outer, request_id = theirs.protect(AioMessage(code=Code.GET, uri_path=["hello"]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    try:
        def exchange(data):
            sock.sendto(data, ("127.0.0.1", coapd))
            return sock.recv(2048)
        first = exchange(_datagram(outer, 0x1001, b"rp"))
        answer, _ = theirs.unprotect(AioMessage.decode(first), request_id)
        assert answer.code == Code.CONTENT and answer.payload == b"Hello from MicroPython"
        # the same MID again is a retransmission: the cached response, byte for byte
        assert exchange(_datagram(outer, 0x1001, b"rp")) == first
        # the same protected request with a new MID is a replay
        replay = AioMessage.decode(exchange(_datagram(outer, 0x1002, b"rp")))
        assert replay.code == Code.UNAUTHORIZED and replay.payload == b"Replay detected"
        assert replay.opt.oscore is None and replay.opt.max_age == 0
    finally:
        sock.close()


# -- CLI arguments ------------------------------------------------------------------

def test_oscore_argument_errors_are_one_line_and_never_show_the_key():
    good = spec(OURS, THEIRS)
    secret = SECRET.hex()
    for value, text in ((secret + ":00:01", "--oscore needs"),
                        (secret + ":00:01:02:03:04", "--oscore needs"),
                        ("zz" + secret + ":00:01:02", "MASTER_SECRET is not hex"),
                        (":00:01:02", "MASTER_SECRET is empty"),
                        (secret + ":0:01:02", "MASTER_SALT is not hex"),
                        (secret + "::0102030405060708:02", "at most 7 bytes"),
                        (secret + "::01:01", "must differ"),
                        (secret + "::01:02:4", "ID_CONTEXT is not hex")):
        proc = subprocess.run([MICROPYTHON, "tools/coap.py", "get", "coap://127.0.0.1/x",
                               "--oscore", value], cwd=ROOT, capture_output=True,
                              text=True, timeout=20)
        assert proc.returncode == 2, (value, proc.stdout)
        assert proc.stdout.count("\n") == 1 and text in proc.stdout, proc.stdout
        assert secret not in proc.stdout
    proc = subprocess.run([MICROPYTHON, "tools/coap.py", "get", "coap://127.0.0.1/x",
                           "--state", "/tmp/x.json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == 2 and "--state needs --oscore" in proc.stdout
    proc = subprocess.run([MICROPYTHON, "tools/coapd.py", "--oscore", good + ":zz"], cwd=ROOT,
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and proc.stdout.count("\n") == 1, proc.stdout


def test_state_file_default_and_directories_are_created(tmp_path):
    """No --state: the file goes under $HOME/.cache (directories made on the unix port,
    which has no os.makedirs); a second run continues after the first one's numbers."""
    port = free_port()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", port))
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    try:
        for _ in range(2):
            proc = subprocess.run([MICROPYTHON, "tools/coap.py", "get",
                                   "coap://127.0.0.1:%d/x" % port, "--timeout", "0.3",
                                   "--oscore", spec(OURS, THEIRS)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=20,
                                  env=env)
            assert proc.returncode == 1 and "timeout" in proc.stdout
        datagrams = [silent.recv(2048) for _ in range(2)]
    finally:
        silent.close()
    path = tmp_path / "home/.cache/mpy-lwm2m-c2c/coap-oscore.json"
    assert list(json.loads(path.read_text()).values()) == [128]
    pivs = [AioMessage.decode(d).opt.oscore for d in datagrams]
    assert pivs[0] != pivs[1]                # 0 then 64: never the same nonce
