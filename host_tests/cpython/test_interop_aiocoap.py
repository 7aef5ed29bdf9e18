"""Interop on loopback with aiocoap, an independent CoAP implementation.

Our side runs on the unix-port MicroPython as a subprocess (tools/coapd.py,
tools/coap.py); aiocoap runs in this process.
"""
import asyncio
import os
import socket
import subprocess

import pytest
import aiocoap
import aiocoap.resource as resource

from host_tests.cpython.aiopeer import BIG, Clock, observe
from host_tests.cpython.procs import MICROPYTHON, ROOT, free_port, start_line_process


@pytest.fixture
def coapd():
    port = free_port()
    proc = start_line_process(
        [MICROPYTHON, "tools/coapd.py", "--bind", "127.0.0.1:%d" % port,
         "--period", "150", "--duration", "60"], "listening on")
    yield port
    proc.kill()
    proc.wait()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _request(ctx, code, uri, payload=b"", **opts):
    msg = aiocoap.Message(code=code, uri=uri, payload=payload, **opts)
    return await ctx.request(msg).response


# -- aiocoap client -> our server on the unix port ---------------------------------

def test_aiocoap_client_basic_methods(coapd):
    base = "coap://127.0.0.1:%d/" % coapd

    async def go():
        ctx = await aiocoap.Context.create_client_context()
        try:
            r = await _request(ctx, aiocoap.GET, base + "hello")
            assert r.code == aiocoap.CONTENT and r.payload == b"Hello from MicroPython"
            assert r.opt.content_format == 0
            r = await _request(ctx, aiocoap.PUT, base + "store", b"abc")
            assert r.code == aiocoap.CHANGED
            r = await _request(ctx, aiocoap.POST, base + "store", b"def")
            assert r.code == aiocoap.CREATED
            r = await _request(ctx, aiocoap.GET, base + "store")
            assert r.payload == b"abcdef"
            r = await _request(ctx, aiocoap.DELETE, base + "store")
            assert r.code == aiocoap.DELETED
            r = await _request(ctx, aiocoap.GET, base + "nothing")
            assert r.code == aiocoap.NOT_FOUND
            r = await _request(ctx, aiocoap.DELETE, base + "hello")
            assert r.code == aiocoap.METHOD_NOT_ALLOWED
            r = await _request(ctx, aiocoap.GET, base + ".well-known/core")
            assert b"</counter>;obs" in r.payload and b"</hello>" in r.payload
        finally:
            await ctx.shutdown()
    run(go())


def test_aiocoap_client_blockwise_both_directions(coapd):
    base = "coap://127.0.0.1:%d/" % coapd
    upload = bytes(range(256)) * 12                  # 3072 bytes -> Block1

    async def go():
        ctx = await aiocoap.Context.create_client_context()
        try:
            r = await _request(ctx, aiocoap.GET, base + "big")
            assert r.code == aiocoap.CONTENT and r.payload == BIG and len(BIG) == 4096
            r = await _request(ctx, aiocoap.PUT, base + "store", upload)
            assert r.code == aiocoap.CHANGED
            r = await _request(ctx, aiocoap.GET, base + "store")
            assert r.payload == upload
        finally:
            await ctx.shutdown()
    run(go())


def test_aiocoap_client_observes_several_notifications(coapd):
    uri = "coap://127.0.0.1:%d/counter" % coapd

    async def go():
        ctx = await aiocoap.Context.create_client_context()
        try:
            first, values = await observe(ctx, uri)
            assert first.opt.observe is not None
            assert values == sorted(values) and len(set(values)) == 5
        finally:
            await ctx.shutdown()
    run(go())


# -- our client on the unix port -> aiocoap server ----------------------------------

class Text(resource.Resource):
    def __init__(self, body):
        super().__init__()
        self.body = body

    async def render_get(self, request):
        return aiocoap.Message(payload=self.body, content_format=0)

    async def render_put(self, request):
        self.body = request.payload
        return aiocoap.Message(code=aiocoap.CHANGED)

    async def render_post(self, request):
        self.body += request.payload
        return aiocoap.Message(code=aiocoap.CREATED, location_path=("text", "1"))

    async def render_delete(self, request):
        self.body = b""
        return aiocoap.Message(code=aiocoap.DELETED)


async def with_aiocoap_server(args_list):
    """Start an aiocoap server, run tools/coap.py once per args, return outputs."""
    port = free_port()
    root = resource.Site()
    root.add_resource(["text"], Text(b"hello aiocoap"))
    root.add_resource(["big"], Text(BIG))
    clock = Clock()
    root.add_resource(["clock"], clock)
    ctx = await aiocoap.Context.create_server_context(root, bind=("127.0.0.1", port))
    results = []
    try:
        for args in args_list:
            args = [a.replace("PORT", str(port)) for a in args]
            proc = await asyncio.create_subprocess_exec(
                MICROPYTHON, "tools/coap.py", *args, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            results.append((proc.returncode, out.decode()))
    finally:
        if clock.task:
            clock.task.cancel()
        await ctx.shutdown()
    return results


def test_our_client_against_aiocoap_server():
    u = "coap://127.0.0.1:PORT/"
    results = run(with_aiocoap_server([
        ["get", u + "text"],
        ["put", u + "text", "--payload", "new"],
        ["post", u + "text", "--payload", "+more", "--content-format", "text/plain"],
        ["get", u + "text"],
        ["delete", u + "text"],
        ["get", u + "missing"],
        ["get", u + "big", "--non"],
    ]))
    (rc0, get0), (rc1, put), (rc2, post), (rc3, get1), (rc4, dele), (rc5, miss), (rc6, big) = results
    assert rc0 == 0 and get0.splitlines()[0] == "2.05 Content" and "hello aiocoap" in get0
    assert rc1 == 0 and put.startswith("2.04 Changed")
    assert rc2 == 0 and post.startswith("2.01 Created") and "Location-Path: /text/1" in post
    assert rc3 == 0 and "new+more" in get1
    assert rc4 == 0 and dele.startswith("2.02 Deleted")
    assert rc5 == 1 and miss.startswith("4.04 Not Found")
    assert rc6 == 0 and BIG.decode().strip() in big


def test_our_client_observes_aiocoap_server():
    [(rc, out)] = run(with_aiocoap_server([
        ["get", "coap://127.0.0.1:PORT/clock", "--observe", "4", "--timeout", "5"]]))
    assert rc == 0, out
    values = [int(line) for line in out.splitlines() if line.isdigit()]
    assert len(values) == 4 and values == sorted(values) and len(set(values)) == 4
    assert out.count("2.05 Content") == 4


def test_client_cli_errors_are_one_line_with_status_2():
    for args, text in ((["get"], "expected METHOD and URI"),
                       (["fetch", "coap://127.0.0.1/x"], "unknown method"),
                       (["get", "http://x/"], "coap://"),
                       (["get", "coap://127.0.0.1:99999/"], "bad port"),
                       (["get", "coap://127.0.0.1/", "--observe", "x"], "needs a number"),
                       (["get", "coap://127.0.0.1/", "--accept", "nope"], "unknown content")):
        proc = subprocess.run([MICROPYTHON, "tools/coap.py"] + args, cwd=ROOT,
                              capture_output=True, text=True, timeout=20)
        assert proc.returncode == 2, (args, proc.stdout)
        assert proc.stdout.count("\n") == 1 and text in proc.stdout, proc.stdout


def test_client_times_out_against_silent_port():
    port = free_port()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", port))
    try:
        proc = subprocess.run([MICROPYTHON, "tools/coap.py", "get",
                               "coap://127.0.0.1:%d/x" % port, "--timeout", "0.5"],
                              cwd=ROOT, capture_output=True, text=True, timeout=20)
    finally:
        silent.close()
    assert proc.returncode == 1 and "timeout" in proc.stdout
