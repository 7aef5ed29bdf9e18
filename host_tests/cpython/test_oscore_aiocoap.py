"""Cross-check (CPython only): lib/oscore against aiocoap's OSCORE, in one process.

aiocoap's file-backed and group contexts are more than needed; its building blocks
(`CanProtect`, `CanUnprotect`, `SecurityContextUtils`, `ReplayWindow`) make a plain
in-memory context (tools/bench.py's, which measures against it). Messages cross as bytes in both directions:
aiocoap client -> our server -> aiocoap client, and our client -> aiocoap server ->
our client, including Observe notifications with the server's own Partial IV.
"""
import warnings

from aiocoap import oscore as aio
from aiocoap.message import Message as AioMessage
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type
from hypothesis import given, settings
from hypothesis import strategies as st

from coap.message import Message, decode
from coap.numbers import ACK, CHANGED, CON, CONTENT, GET, POST, PUT
from oscore.context import SecurityContext, find_context
from oscore.protect import (protect_request, protect_response, unprotect_request,
                            unprotect_response)
from tools.bench import aio_context_class


AioContext = aio_context_class()
SECRET = bytes(range(1, 17))
SALT = bytes.fromhex("9e7ca92223786340")


def _pair(id_context=None, client_id=b"\x01", server_id=b"\x02"):
    """(aiocoap context, our context) for the two ends of one security context."""
    return (AioContext(SECRET, SALT, client_id, server_id, id_context),
            SecurityContext(SECRET, server_id, client_id, SALT, id_context))


def _lookup(*contexts):
    return lambda kid, kid_context: find_context(contexts, kid, kid_context)


def _wire(aio_msg, mtype, mid, token):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        aio_msg.mtype = mtype
        aio_msg.mid = mid
        aio_msg.token = token
    return aio_msg.encode()


ids = st.binary(min_size=0, max_size=7)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.binary(max_size=16), ids, ids,
       st.one_of(st.none(), st.binary(max_size=20)))
def test_key_derivation_matches_aiocoap(secret, salt, sid, rid, id_context):
    theirs = AioContext(secret, salt, sid, rid, id_context)
    ours = SecurityContext(secret, sid, rid, salt, id_context)
    assert ours.sender_key == theirs.sender_key
    assert ours.recipient_key == theirs.recipient_key
    assert ours.common_iv == theirs.common_iv[:13]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("abcxyz019", min_size=1, max_size=6), max_size=3),
       st.binary(max_size=80), st.sampled_from([GET, POST, PUT]),
       st.one_of(st.none(), st.binary(min_size=1, max_size=8)),
       st.integers(0, 3000))
def test_aiocoap_client_our_server(path, payload, code, id_context, seq):
    client, server = _pair(id_context)
    client.sender_sequence_number = seq
    request = AioMessage(code=Code(code), uri_path=path, payload=payload,
                         uri_host="node.example", content_format=60)
    outer, request_id = client.protect(request)
    inner, ctx, binding = unprotect_request(_lookup(server),
                                            decode(_wire(outer, Type.CON, 77, b"tk")))
    assert ctx is server and binding.seq == seq
    assert inner.code == code and inner.path() == path
    assert bytes(inner.payload) == payload and inner.content_format == 60
    assert inner.get(3) == b"node.example" and inner.mid == 77 and inner.token == b"tk"
    # our response, verified by aiocoap with its request identifiers
    reply = Message(ACK, CONTENT, 77, b"tk", b"r:" + payload).add(12, 0)
    sealed = protect_response(server, reply, binding)
    got, _ = client.unprotect(AioMessage.decode(sealed.to_bytes()), request_id)
    assert got.code == Code.CONTENT and got.payload == b"r:" + payload
    assert got.opt.content_format == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("abc019", min_size=1, max_size=6), max_size=3),
       st.binary(max_size=80), st.one_of(st.none(), st.binary(min_size=1, max_size=8)),
       st.integers(0, 70000))
def test_our_client_aiocoap_server(path, payload, id_context, seq):
    theirs = AioContext(SECRET, SALT, b"\x02", b"\x01", id_context)
    client = SecurityContext(SECRET, b"\x01", b"\x02", SALT, id_context, ssn=seq)
    msg = Message(CON, POST, 9, b"t", payload).set_path(path).add(60, 100)
    outer, binding = protect_request(client, msg)
    got, request_id = theirs.unprotect(AioMessage.decode(outer.to_bytes()))
    assert got.code == Code.POST and list(got.opt.uri_path) == path
    assert got.payload == payload and got.opt.size1 == 100
    assert request_id.partial_iv == binding.piv and request_id.kid == b"\x01"
    response, _ = theirs.protect(AioMessage(code=Code.CHANGED, payload=b"ok"), request_id)
    inner, piv = unprotect_response(client, decode(_wire(response, Type.ACK, 9, b"t")),
                                    binding)
    assert inner.code == CHANGED and bytes(inner.payload) == b"ok" and piv is None


def test_observe_notifications_verified_by_aiocoap():
    client, server = _pair(b"\x42")
    registration = AioMessage(code=Code.GET, uri_path=["temp"], observe=0)
    outer, request_id = client.protect(registration)
    assert outer.code == Code.FETCH
    _, _, binding = unprotect_request(_lookup(server),
                                      decode(_wire(outer, Type.CON, 1, b"ob")))
    assert binding.observe
    seen = []
    for n in range(5):
        note = Message(CON, CONTENT, 10 + n, b"ob", b"%d" % n).add(6, n + 2)
        sealed = protect_response(server, note, binding)
        got, _ = client.unprotect(AioMessage.decode(sealed.to_bytes()), request_id)
        assert got.payload == b"%d" % n
        seen.append(got.opt.observe)     # aiocoap reports the Partial IV here
    assert seen == [0, 1, 2, 3, 4]


def test_aiocoap_rejects_our_replayed_request_and_we_reject_theirs():
    client, server = _pair()
    outer, _ = client.protect(AioMessage(code=Code.GET, uri_path=["x"]))
    wire = _wire(outer, Type.CON, 3, b"r")
    unprotect_request(_lookup(server), decode(wire))
    try:
        unprotect_request(_lookup(server), decode(wire))
        raise AssertionError("replay accepted")
    except ValueError as e:
        assert getattr(e, "code", None) == 129
    theirs = AioContext(SECRET, SALT, b"\x02", b"\x01")
    ours = SecurityContext(SECRET, b"\x01", b"\x02", SALT)
    outer2, _ = protect_request(ours, Message(CON, GET, 4, b"s").set_path("/y"))
    theirs.unprotect(AioMessage.decode(outer2.to_bytes()))
    try:
        theirs.unprotect(AioMessage.decode(outer2.to_bytes()))
        raise AssertionError("aiocoap accepted a replay")
    except aio.ReplayError:
        pass
