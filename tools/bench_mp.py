"""bench_mp.py -- the workloads of `make bench` that exercise our stack, on either Python.

    micropython tools/bench_mp.py [--budget S] [--slices N] [--warmup S] [--only NAME,...]
    micropython tools/bench_mp.py --serve

The first form prints ONE line of JSON: {"impl", "version", "rates": {case: {"best",
"mean", "ops"}}, "heap": {case: bytes per call}} (heap only where `gc.mem_alloc` exists,
i.e. MicroPython). `--serve` answers commands on stdin (see `serve`): tools/bench.py uses
it to interleave unix-port slices with its CPython ones, and imports the very same
`CASES` under CPython, so "ours" is the same code on both interpreters.

Each case is a factory returning `(op, close)`: `op()` does one unit of work (see the
docstrings), `close()` (or None) releases sockets. `rate()` times `op` for a fixed
wall-time budget after a warm-up: the budget is cut into `slices` and the best slice's
ops/s is the headline figure (least disturbed by the rest of the machine), the mean over
all slices is kept too.
"""
import gc
import sys
import time

ROOT = __file__.rsplit("tools/", 1)[0] or "."
if ROOT.endswith("/"):
    ROOT = ROOT[:-1] or "/"
if sys.implementation.name != "micropython":
    sys.path.insert(0, ROOT + "/tools/shims")
for _p in (ROOT, ROOT + "/lib"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import cbor
from coap.endpoint import Endpoint, Params
from coap.message import Message, decode
from coap.numbers import (CON, GET, POST, CONTENT, CHANGED, OBSERVE, CONTENT_FORMAT,
                          URI_QUERY, LINK_FORMAT, SENML_CBOR)
from coap.server import Site, reply
from oscore.context import SecurityContext, find_context
from oscore.protect import (protect_request, unprotect_request, protect_response,
                            unprotect_response)

# ---------------------------------------------------------------------------- clock

try:
    _ticks_us = time.ticks_us
    _ticks_diff = time.ticks_diff

    def _elapsed_s(t0):
        return _ticks_diff(_ticks_us(), t0) / 1e6

    _clock = _ticks_us
except AttributeError:       # CPython
    _clock = time.perf_counter

    def _elapsed_s(t0):
        return time.perf_counter() - t0


def _run_for(op, seconds):
    """Call op() in growing batches until `seconds` passed; -> (ops, elapsed s)."""
    count = 0
    batch = 1
    t0 = _clock()
    while True:
        for _ in range(batch):
            op()
        count += batch
        el = _elapsed_s(t0)
        if el >= seconds:
            return count, el
        if el * 16 < seconds:
            batch *= 2


def rate(op, budget=0.5, slices=5, warmup=0.1):
    """{"best": ops/s of the best slice, "mean": ops/s over the budget, "ops": count}."""
    if warmup > 0:
        _run_for(op, warmup)
    best = 0.0
    total = 0
    spent = 0.0
    for _ in range(slices):
        n, el = _run_for(op, budget / slices)
        total += n
        spent += el
        r = n / el
        if r > best:
            best = r
    return {"best": best, "mean": total / spent, "ops": total}


# ------------------------------------------------------------------------- fixtures

TOKEN = b"\x8a\x13\xc2\x07"
# SenML-CBOR of a temperature object read (RFC 8428 labels: bn -2, n 0, v 2, vs 3, t 6)
SENML = [{-2: "/3303/0/", 0: "5700", 2: 21.5, 6: 0},
         {0: "5601", 2: 18.25}, {0: "5602", 2: 24.75}, {0: "5701", 3: "Cel"}]
SENML_BYTES = cbor.dumps(SENML, deterministic=True)
AC_GRANT = {(3342, 0): 1}
ENDPOINT_NAME = "urn:dev:os:0023C7-000001"
REGISTER_QUERY = ("ep=" + ENDPOINT_NAME, "lt=86400", "lwm2m=1.1", "b=U")
REGISTER_LINKS = (b'</>;ct="60 110 112 11542 11543",</1/0>,</3/0>,</3303/0>,'
                  b'</3311/0>,</3342/0>,</11000/0>,</11001/0>')
READ_PATH = "/3303/0/5700"
OSCORE_PAYLOAD = bytes(range(64))
OSCORE_SECRET = bytes(range(1, 17))
OSCORE_SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"


def notify_message():
    """CON 2.05 with a 4-byte token, Observe, Content-Format 112 and the SenML payload:
    what a node sends for an Observe notification."""
    return (Message(CON, CONTENT, 0x4D21, TOKEN, SENML_BYTES)
            .add(OBSERVE, 1234).add(CONTENT_FORMAT, SENML_CBOR))


def register_message():
    """CON POST /rd?ep=..&lt=..&lwm2m=1.1&b=U, Content-Format 40, the object links."""
    msg = Message(CON, POST, 0x4D22, TOKEN, REGISTER_LINKS).set_path("/rd")
    for q in REGISTER_QUERY:
        msg.add(URI_QUERY, q)
    return msg.add(CONTENT_FORMAT, LINK_FORMAT)


def _codec(msg):
    buf = bytearray(1152)
    view = memoryview(buf)

    def op():
        # what the endpoint does: encode into its transmit buffer; decode a datagram
        n = msg.encode_into(buf)
        decode(view[:n])
    return op, None


def codec_notify():
    """Encode + decode of the notification (`notify_message`)."""
    return _codec(notify_message())


def codec_register():
    """Encode + decode of the Register request (`register_message`)."""
    return _codec(register_message())


class _Reading:
    """The resource read by a round: GET -> 2.05 SenML-CBOR."""

    def get(self, request):
        return reply(CONTENT, SENML_BYTES, SENML_CBOR)


def _server_params():
    # The duplicate cache keeps entries for EXCHANGE_LIFETIME (247 s); thousands of
    # requests a second would fill its 32 entries with live ones and get 5.03. With a
    # zero lifetime every request is still remembered and the full cache is swept, so
    # that cost stays in the figure.
    p = Params()
    p.exchange_lifetime_ms = 0
    p.non_lifetime_ms = 0
    return p


def _server(endpoint):
    site = Site(endpoint)
    site.add(READ_PATH, _Reading())
    return site


def _check(done):
    resp, err = done[0]
    if resp is None or resp.code != CONTENT or len(resp.payload) != len(SENML_BYTES):
        raise RuntimeError("bad round: %r %r" % (resp, err))


def round_radio():
    """One CON GET /3303/0/5700 -> piggybacked 2.05 (SenML) between a client Endpoint
    and an Endpoint + Site on the fake radio: zero-delay link, virtual clock, no log.
    Pure stack CPU plus the radio's event queue."""
    from tools.sim.radio import Radio
    client_addr = ("c", 5683)
    server_addr = ("s", 5683)
    radio = Radio(seed=1, log=False)
    radio.link("c", "s", delay_ms=0)
    client = Endpoint(None)
    server = Endpoint(None, params=_server_params())
    _server(server)
    client.transport = radio.attach(client_addr, client)
    server.transport = radio.attach(server_addr, server)
    done = []

    def on_response(resp, err):
        done.append((resp, err))

    def waiting():
        return not done

    def op():
        done.clear()
        msg = Message(CON, GET).set_path(READ_PATH)
        client.request(server_addr, msg, on_response, radio.now_ms)
        radio.wake(client_addr)
        radio.run_while(waiting, 60000)
        radio.run_until_idle(0)         # drop the stale retransmission wake-up
        _check(done)
    return op, None


def round_udp():
    """The same round over real loopback UDP in one process: client Endpoint and server
    Endpoint + Site on two UdpTransports, each driven by transport.runner.Runner.poll
    (poll(2) + recvfrom until EAGAIN + step)."""
    from transport.udp import UdpTransport
    from transport.runner import Runner, now_ms
    ct = UdpTransport(("127.0.0.1", 0))
    st = UdpTransport(("127.0.0.1", 0))
    server_addr = ("127.0.0.1", st.local_address()[1])
    client = Endpoint(ct)
    server = Endpoint(st, params=_server_params())
    _server(server)
    c_run = Runner(ct, client)
    s_run = Runner(st, server)
    done = []

    def on_response(resp, err):
        done.append((resp, err))

    def op():
        done.clear()
        msg = Message(CON, GET).set_path(READ_PATH)
        client.request(server_addr, msg, on_response, now_ms())
        while not done:
            s_run.poll(20)
            c_run.poll(20)
        _check(done)

    def close():
        ct.close()
        st.close()
    return op, close


def oscore_pair():
    """(client context, server context, the server's context lookup for
    unprotect_request) for one OSCORE security context."""
    client = SecurityContext(OSCORE_SECRET, b"\x01", b"\x02", OSCORE_SALT)
    server = SecurityContext(OSCORE_SECRET, b"\x02", b"\x01", OSCORE_SALT)
    contexts = [server]

    def lookup(kid, kid_context):
        return find_context(contexts, kid, kid_context)
    return client, server, lookup


def oscore_request_message():
    """POST /3311/0/5850 (Content-Format 112) with a 64-byte payload."""
    return (Message(CON, POST, 0x0101, TOKEN, OSCORE_PAYLOAD).set_path("/3311/0/5850")
            .add(CONTENT_FORMAT, SENML_CBOR))


def oscore_response_message():
    """2.04 Changed (Content-Format 112) with a 64-byte payload."""
    return Message(CON, CHANGED, 0x0101, TOKEN, OSCORE_PAYLOAD).add(CONTENT_FORMAT,
                                                                    SENML_CBOR)


def oscore_request():
    """Client protects the request, server unprotects it (replay window updated)."""
    cctx, _, lookup = oscore_pair()
    req = oscore_request_message()

    def op():
        outer, _ = protect_request(cctx, req)
        unprotect_request(lookup, outer)
    return op, None


def oscore_exchange():
    """Request protect+unprotect, then its response (request nonce, no Partial IV)
    protect+unprotect: one full OSCORE exchange, 64-byte payloads both ways."""
    cctx, sctx, lookup = oscore_pair()
    req = oscore_request_message()
    resp = oscore_response_message()

    def op():
        outer, cbind = protect_request(cctx, req)
        _, _, sbind = unprotect_request(lookup, outer)
        outer_resp = protect_response(sctx, resp, sbind)
        inner, _ = unprotect_response(cctx, outer_resp, cbind)
        if len(inner.payload) != 64:
            raise RuntimeError("bad OSCORE response")
    return op, None


def cbor_ac():
    """cbor.dumps + cbor.loads of the /ac grant map {(3342, 0): 1} (array as map key)."""
    def op():
        cbor.loads(cbor.dumps(AC_GRANT))
    return op, None


def cbor_senml():
    """cbor.dumps + cbor.loads of the SenML-CBOR-like list (4 records, floats, text)."""
    def op():
        cbor.loads(cbor.dumps(SENML))
    return op, None


def cbor_senml_det():
    """cbor.dumps(deterministic=True) + cbor.loads of the same list (sorted map keys)."""
    def op():
        cbor.loads(cbor.dumps(SENML, deterministic=True))
    return op, None


CASES = (
    ("codec_notify", codec_notify),
    ("codec_register", codec_register),
    ("round_radio", round_radio),
    ("round_udp", round_udp),
    ("oscore_request", oscore_request),
    ("oscore_exchange", oscore_exchange),
    ("cbor_ac", cbor_ac),
    ("cbor_senml", cbor_senml),
    ("cbor_senml_det", cbor_senml_det),
)


# ----------------------------------------------------------------------------- heap

def _delta(fn, prep=()):
    """Bytes allocated by fn(), gc disabled; min over a few runs after one warm-up.
    prep: functions run before every call, outside the measurement (fresh input)."""
    for p in prep:
        p()
    fn()
    best = None
    for _ in range(5):
        for p in prep:
            p()
        gc.collect()
        gc.disable()
        try:
            a = gc.mem_alloc()
            fn()
            d = gc.mem_alloc() - a
        finally:
            gc.enable()
        if best is None or d < best:
            best = d
    return best


def heap_per_call():
    """Heap bytes per call on MicroPython (`gc.mem_alloc` delta after `gc.collect`, gc
    disabled around the call). Inputs are prepared outside the measured call."""
    out = {}
    for name, make in (("codec_notify", notify_message), ("codec_register", register_message)):
        msg = make()
        buf = bytearray(1152)
        n = msg.encode_into(buf)
        view = memoryview(buf)
        out[name + "_encode"] = _delta(lambda: msg.encode_into(buf))
        out[name + "_decode"] = _delta(lambda: decode(view[:n]))

    cctx, sctx, lookup = oscore_pair()
    req = oscore_request_message()
    resp = oscore_response_message()
    out["oscore_protect_request"] = _delta(lambda: protect_request(cctx, req))
    state = {}

    def prep_request():
        state["outer"], state["cbind"] = protect_request(cctx, req)

    def unprotect_req():
        state["sbind"] = unprotect_request(lookup, state["outer"])[2]

    def protect_resp():
        state["outer_resp"] = protect_response(sctx, resp, state["sbind"])

    def unprotect_resp():
        unprotect_response(cctx, state["outer_resp"], state["cbind"])

    # each measured step needs fresh input from the previous one
    rows = (("oscore_unprotect_request", (prep_request,), unprotect_req),
            ("oscore_protect_response", (prep_request, unprotect_req), protect_resp),
            ("oscore_unprotect_response", (prep_request, unprotect_req, protect_resp),
             unprotect_resp))
    for name, prep, fn in rows:
        out[name] = _delta(fn, prep)
    op, _ = round_radio()
    out["round_radio"] = _delta(op)
    return out


# ----------------------------------------------------------------------------- main

def measure(names=None, budget=0.5, slices=5, warmup=0.1):
    """Run the cases (all, or those in `names`) -> {case: rate dict}."""
    rates = {}
    for name, factory in CASES:
        if names and name not in names:
            continue
        op, close = factory()
        try:
            rates[name] = rate(op, budget, slices, warmup)
        finally:
            if close is not None:
                close()
        gc.collect()
    return rates


def _args(argv):
    opts = {"budget": 0.5, "slices": 5, "warmup": 0.1, "only": None}
    i = 0
    while i < len(argv):
        name = argv[i]
        if i + 1 >= len(argv):
            raise ValueError("%s needs a value" % name)
        value = argv[i + 1]
        if name == "--only":
            opts["only"] = value.split(",")
        elif name == "--slices":
            opts["slices"] = int(value)
        elif name in ("--budget", "--warmup"):
            opts[name[2:]] = float(value)
        else:
            raise ValueError("unknown option " + name)
        i += 2
    return opts


def serve():
    """Line protocol on stdin/stdout, so tools/bench.py can interleave slices of the unix
    port with its own (both see the same machine state). One JSON answer per command:
        case NAME WARMUP_S  -> build the case (closing the previous one), warm it up
                               -> {"case": NAME}
        slice SECONDS       -> {"n": ops, "s": elapsed seconds}
        heap                -> {"heap": {...}} (see heap_per_call)
        quit
    The first line printed is {"impl": ..., "version": ...}."""
    import json
    print(json.dumps({"impl": sys.implementation.name, "version": sys.version}))
    factories = dict(CASES)
    op = close = None
    while True:
        line = sys.stdin.readline()
        words = line.split()
        if not words or words[0] == "quit":
            break
        cmd = words[0]
        if cmd == "case":
            if close is not None:
                close()
            op = close = None
            gc.collect()
            op, close = factories[words[1]]()
            _run_for(op, float(words[2]))
            answer = {"case": words[1]}
        elif cmd == "slice":
            n, el = _run_for(op, float(words[1]))
            answer = {"n": n, "s": el}
        elif cmd == "heap":
            answer = {"heap": heap_per_call() if hasattr(gc, "mem_alloc") else {}}
        else:
            answer = {"error": "unknown command " + cmd}
        print(json.dumps(answer))
    if close is not None:
        close()


def main(argv):
    import json
    if argv and argv[0] == "--serve":
        return serve()
    opts = _args(argv)
    rates = measure(opts["only"], opts["budget"], opts["slices"], opts["warmup"])
    result = {"impl": sys.implementation.name, "version": sys.version, "rates": rates}
    if hasattr(gc, "mem_alloc"):
        result["heap"] = heap_per_call()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
