"""bench.py -- `make bench`: our stack against independent peers, measured in one run.

    .venv/bin/python tools/bench.py [--quick] [--budget S] [--slices N] [--warmup S]
                                    [--json PATH] [--micropython PATH]

Measures ops/s of:
  1. CoAP encode+decode of a notification and of a Register request: ours vs aiocoap
     (CPython), ours on the unix port;
  2. a CON request/response round: ours on the fake radio (virtual time, zero delay, both
     interpreters) and over loopback UDP in one process: ours (both interpreters) vs
     aiocoap client + server contexts in one asyncio loop;
  3. OSCORE protect+unprotect of a request, and of a request and its response (64-byte
     payloads): ours (both interpreters) vs aiocoap.oscore, plus heap bytes per call on
     the unix port;
  4. CBOR dumps+loads of the /ac grant map and of a SenML list: ours vs cbor2.

The workloads of our stack live in tools/bench_mp.py: imported here for CPython, and
run on the unix port ($MICROPYTHON, default .venv/bin/micropython) as a subprocess in its
`--serve` mode, which answers one JSON line per command. For every case ours on CPython,
the peer and ours on the unix port are timed in alternating slices, so that all three see
the same machine state (the machine is shared); the figure is the best slice's ops/s
(see bench_mp.rate). Where a row claims apples-to-apples, the run also checks that both
sides produce the very same bytes. Prints a table of ops/s and ratios and writes
everything to build/bench.json (--json). As the design guide asks, the figures that
matter are the ratios, not bare times.
"""
import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "tools", "shims"), os.path.join(ROOT, "lib"), ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tools import bench_mp as W  # noqa: E402  (our workloads, shared with the unix port)

# ------------------------------------------------------------------------ the rows

# tag: "A" apples-to-apples (same inputs, same work, same bytes out -- checked),
#      "~" same protocol job, but the stacks around it differ (see NOTES),
#      "-" no peer in this row.
ROWS = (
    # id, section, label, peer name or None, tag
    ("codec_notify", "1 CoAP codec", "enc+dec CON 2.05 Observe notify, SenML %d B",
     "aiocoap", "A"),
    ("codec_register", "1 CoAP codec", "enc+dec CON POST /rd?ep.. Register, %d B",
     "aiocoap", "A"),
    ("round_radio", "2 CON round", "GET->2.05, fake radio, virtual time", None, "-"),
    ("round_udp", "2 CON round", "GET->2.05, loopback UDP, one process", "aiocoap", "~"),
    ("oscore_request", "3 OSCORE", "request protect+unprotect, 64 B", "aiocoap", "A"),
    ("oscore_exchange", "3 OSCORE", "req+resp protect+unprotect, 64 B", "aiocoap", "A"),
    ("cbor_ac", "4 CBOR", "dumps+loads /ac {(3342, 0): 1}", "cbor2", "A"),
    ("cbor_senml", "4 CBOR", "dumps+loads SenML list, default", "cbor2", "~"),
    ("cbor_senml_det", "4 CBOR", "same, deterministic / canonical", "cbor2", "A"),
)

HEAP_ROWS = (
    ("codec_notify_encode", "CoAP encode_into, notify (into a reused buffer)"),
    ("codec_notify_decode", "CoAP decode, notify"),
    ("codec_register_encode", "CoAP encode_into, Register"),
    ("codec_register_decode", "CoAP decode, Register"),
    ("oscore_protect_request", "OSCORE protect_request, 64 B"),
    ("oscore_unprotect_request", "OSCORE unprotect_request, 64 B"),
    ("oscore_protect_response", "OSCORE protect_response, 64 B"),
    ("oscore_unprotect_response", "OSCORE unprotect_response, 64 B"),
    ("round_radio", "one CON round on the fake radio (both ends + radio)"),
)

NOTES = (
    "[A] apples-to-apples: same message/object in, identical bytes out (checked in this "
    "run), each library's own API.",
    "    CoAP codec: ours decodes lazily (options stay raw bytes, payload is a view), "
    "aiocoap builds typed options and copies.",
    "    OSCORE: same messages, same AES-CCM-16-64-128, objects handed over without wire "
    "encoding; aiocoap uses cryptography's AESCCM (OpenSSL), ours CCM in Python on "
    "AES-ECB (native cryptolib on the unix port, the `cryptography` ECB shim on CPython).",
    "    CBOR: cbor2 is its C extension; 'deterministic' = ours deterministic=True vs "
    "cbor2 canonical=True.",
    "[A!] would be [A], but the bytes differed in this run: the row is not comparable.",
    "[~] same job, different amounts of work around it:",
    "    UDP round: ours = client Endpoint + server Endpoint/Site driven by "
    "transport.runner.Runner.poll (poll+recvfrom); aiocoap = client and server Contexts "
    "(udp6 transport) in one asyncio loop, request futures, its block-wise/observe "
    "machinery; same CON GET -> piggybacked 2.05 with the same 58-byte payload.",
    "    CBOR SenML default: ours writes the shortest exact float (58 B), cbor2 float64 "
    "(76 B).",
    "[-] no peer: the fake radio is our simulator (its event queue is in the figure); "
    "compare the interpreters only.",
    "Our servers use a 0 ms dedup lifetime so the 32-entry duplicate cache recycles "
    "instead of filling with live entries (5.03); insert + sweep cost stays in.",
    "ours/peer > 1: ours is faster.  MP/CPy: ours on the unix port / ours on CPython.",
)


# --------------------------------------------------------------------- peer workloads

def aio_codec(make_ours):
    """aiocoap.Message equivalent of one of our messages; checks the bytes match."""
    import aiocoap
    from aiocoap.numbers.codes import Code
    from aiocoap.numbers.types import Type
    from coap.numbers import CONTENT_FORMAT, OBSERVE, URI_PATH, URI_QUERY
    ours = make_ours()
    opts = {}
    if ours.has(OBSERVE):
        opts["observe"] = ours.observe
    if ours.has(URI_PATH):
        opts["uri_path"] = ours.path()
    if ours.has(URI_QUERY):
        opts["uri_query"] = ours.query()
    if ours.has(CONTENT_FORMAT):
        opts["content_format"] = ours.content_format
    msg = aiocoap.Message(code=Code(ours.code), _mtype=Type(ours.mtype), _mid=ours.mid,
                          _token=ours.token, payload=bytes(ours.payload), **opts)
    same = msg.encode() == ours.to_bytes()
    decode = aiocoap.Message.decode

    def op():
        decode(msg.encode())
    return op, same


def aio_context_class():
    """An aiocoap OSCORE context held in memory (no persistence), built from aiocoap's
    building blocks; also the peer of host_tests/cpython/test_oscore_aiocoap.py.
    aiocoap is imported here, when a peer is wanted."""
    from aiocoap import oscore as aio

    class AioContext(aio.CanProtect, aio.CanUnprotect, aio.SecurityContextUtils):
        def __init__(self, secret, salt, sender_id, recipient_id, id_context=None):
            self.alg_aead = aio.algorithms[aio.DEFAULT_ALGORITHM]   # AES-CCM-16-64-128
            self.hashfun = aio.hashfunctions[aio.DEFAULT_HASHFUNCTION]
            self.sender_id = sender_id
            self.recipient_id = recipient_id
            self.id_context = id_context
            self.derive_keys(salt, secret)
            self.sender_sequence_number = 0
            self.recipient_replay_window = aio.ReplayWindow(32, lambda: None)
            self.recipient_replay_window.initialize_empty()
            self.echo_recovery = None

        def post_seqnoincrease(self):
            pass
    return AioContext


def aio_oscore(with_response):
    """aiocoap.oscore doing what bench_mp.oscore_request / oscore_exchange do. The outer
    message is handed over as an object (direction flipped to incoming), as ours is."""
    import aiocoap
    from aiocoap.message import Direction
    from aiocoap.numbers.codes import Code
    ctx_class = aio_context_class()
    client = ctx_class(W.OSCORE_SECRET, W.OSCORE_SALT, b"\x01", b"\x02")
    server = ctx_class(W.OSCORE_SECRET, W.OSCORE_SALT, b"\x02", b"\x01")
    request = aiocoap.Message(code=Code.POST, uri_path=["3311", "0", "5850"],
                              content_format=W.SENML_CBOR, payload=W.OSCORE_PAYLOAD)
    response = aiocoap.Message(code=Code.CHANGED, content_format=W.SENML_CBOR,
                               payload=W.OSCORE_PAYLOAD)
    incoming = Direction.INCOMING

    def op_request():
        outer, _ = client.protect(request)
        outer.direction = incoming
        server.unprotect(outer)

    def op_exchange():
        outer, request_id = client.protect(request)
        outer.direction = incoming
        _, server_id = server.unprotect(outer)
        outer_resp, _ = server.protect(response, server_id)
        outer_resp.direction = incoming
        got, _ = client.unprotect(outer_resp, request_id)
        if len(got.payload) != 64:
            raise RuntimeError("bad aiocoap OSCORE response")
    return op_exchange if with_response else op_request


def oscore_same_bytes():
    """From fresh contexts, both stacks seal the request and its response into the very
    same OSCORE option values and ciphertexts."""
    import aiocoap
    from aiocoap.message import Direction
    from aiocoap.numbers.codes import Code
    from coap.numbers import OSCORE
    ctx_class = aio_context_class()
    client = ctx_class(W.OSCORE_SECRET, W.OSCORE_SALT, b"\x01", b"\x02")
    server = ctx_class(W.OSCORE_SECRET, W.OSCORE_SALT, b"\x02", b"\x01")
    t_req, request_id = client.protect(aiocoap.Message(
        code=Code.POST, uri_path=["3311", "0", "5850"], content_format=W.SENML_CBOR,
        payload=W.OSCORE_PAYLOAD))
    t_req.direction = Direction.INCOMING
    _, server_id = server.unprotect(t_req)
    t_resp, _ = server.protect(aiocoap.Message(
        code=Code.CHANGED, content_format=W.SENML_CBOR, payload=W.OSCORE_PAYLOAD),
        server_id)
    cctx, sctx, lookup = W.oscore_pair()
    o_req, _ = W.protect_request(cctx, W.oscore_request_message())
    _, _, binding = W.unprotect_request(lookup, o_req)
    o_resp = W.protect_response(sctx, W.oscore_response_message(), binding)
    return (bytes(o_req.payload) == t_req.payload
            and o_req.get(OSCORE) == t_req.opt.oscore
            and bytes(o_resp.payload) == t_resp.payload
            and o_resp.get(OSCORE) == (t_resp.opt.oscore or b""))


def cbor2_op(obj, **kw):
    import cbor2
    dumps, loads = cbor2.dumps, cbor2.loads

    def op():
        loads(dumps(obj, **kw))
    return op


# ------------------------------------------------------------------------ timing

def interleave(sides, budget, slices):
    """Time each side in turn, `slices` times, budget/slices seconds a slice.
    sides: {name: slice_fn(seconds) -> (ops, elapsed s)}, already warmed up.
    -> {name: {"best": ops/s of the best slice, "mean": ops/s overall, "ops": count}}"""
    stats = {name: [0.0, 0, 0.0] for name in sides}
    for _ in range(slices):
        for name, run in sides.items():
            n, el = run(budget / slices)
            st = stats[name]
            st[0] = max(st[0], n / el)
            st[1] += n
            st[2] += el
    return {name: {"best": st[0], "mean": st[1] / st[2], "ops": st[1]}
            for name, st in stats.items()}


async def _arun_for(aop, seconds):
    """bench_mp._run_for for a coroutine function."""
    count = 0
    batch = 1
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            await aop()
        count += batch
        el = time.perf_counter() - t0
        if el >= seconds:
            return count, el
        if el * 16 < seconds:
            batch *= 2


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AioUdpRound:
    """aiocoap client and server Contexts in one asyncio loop (owned here, so that its
    slices can be interleaved with synchronous ones): CON GET -> 2.05 over loopback."""

    def __init__(self):
        import aiocoap
        import aiocoap.resource as resource
        from aiocoap.message import UndecidedRemote

        class Reading(resource.Resource):
            async def render_get(self, request):
                return aiocoap.Message(payload=W.SENML_BYTES, content_format=W.SENML_CBOR)

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        site = resource.Site()
        site.add_resource(W.READ_PATH.strip("/").split("/"), Reading())
        port = _free_port()
        run = self.loop.run_until_complete
        self.server = run(aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", port), transports=["udp6"]))
        self.client = run(aiocoap.Context.create_client_context(transports=["udp6"]))
        hostinfo = "127.0.0.1:%d" % port
        path = tuple(W.READ_PATH.strip("/").split("/"))
        client = self.client

        async def op():
            msg = aiocoap.Message(code=aiocoap.GET, uri_path=path)
            msg.remote = UndecidedRemote("coap", hostinfo)   # no URI parsing per request
            resp = await client.request(msg).response
            if resp.code != aiocoap.CONTENT or len(resp.payload) != len(W.SENML_BYTES):
                raise RuntimeError("bad aiocoap round: %r" % resp)
        self.op = op

    def run_for(self, seconds):
        return self.loop.run_until_complete(_arun_for(self.op, seconds))

    def close(self):
        run = self.loop.run_until_complete
        run(self.client.shutdown())
        run(self.server.shutdown())
        self.loop.close()
        asyncio.set_event_loop(None)


class MpWorker:
    """tools/bench_mp.py --serve on the unix port, one command at a time."""

    def __init__(self, micropython):
        self.proc = subprocess.Popen([micropython, "tools/bench_mp.py", "--serve"],
                                     cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.proc.kill()
            raise SystemExit("bench_mp.py --serve on the unix port failed: %r%s" % (
                line, self.proc.stdout.read()))
        return json.loads(line)

    def ask(self, *words):
        self.proc.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise SystemExit("bench_mp.py: %s" % answer["error"])
        return answer

    def case(self, name, warmup):
        self.ask("case", name, repr(warmup))

    def run_for(self, seconds):
        got = self.ask("slice", repr(seconds))
        return got["n"], got["s"]

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def _sync(op):
    return lambda seconds: W._run_for(op, seconds)


def run_all(mp, budget, slices, warmup):
    """Every case: ours on CPython, the peer (if any) and ours on the unix port, in
    alternating slices. -> (ours, peers, unix port, checks), rate dicts keyed by case."""
    ours, peers, mp_rates, checks = {}, {}, {}, {}
    import cbor
    import cbor2
    peer_ops = {
        "codec_notify": lambda: aio_codec(W.notify_message),
        "codec_register": lambda: aio_codec(W.register_message),
        "oscore_request": lambda: (aio_oscore(False), oscore_same_bytes()),
        "oscore_exchange": lambda: (aio_oscore(True), oscore_same_bytes()),
        "cbor_ac": lambda: (cbor2_op(W.AC_GRANT),
                            cbor.dumps(W.AC_GRANT) == cbor2.dumps(W.AC_GRANT)),
        "cbor_senml": lambda: (cbor2_op(W.SENML),
                               cbor.dumps(W.SENML) == cbor2.dumps(W.SENML)),
        "cbor_senml_det": lambda: (cbor2_op(W.SENML, canonical=True),
                                   cbor.dumps(W.SENML, deterministic=True)
                                   == cbor2.dumps(W.SENML, canonical=True)),
    }
    for case, factory in W.CASES:
        op, close = factory()
        closers = [close] if close is not None else []
        try:
            W._run_for(op, warmup)
            sides = {"ours": _sync(op)}
            if case == "round_udp":
                aio = AioUdpRound()
                closers.append(aio.close)
                aio.run_for(warmup)
                sides["peer"] = aio.run_for
            elif case in peer_ops:
                peer_op, checks[case] = peer_ops[case]()
                W._run_for(peer_op, warmup)
                sides["peer"] = _sync(peer_op)
            mp.case(case, warmup)
            sides["mp"] = mp.run_for
            got = interleave(sides, budget, slices)
        finally:
            for c in closers:
                c()
        ours[case] = got["ours"]
        mp_rates[case] = got["mp"]
        if "peer" in got:
            peers[case] = got["peer"]
    return ours, peers, mp_rates, checks


# ------------------------------------------------------------------------- output

def _num(x):
    return "-" if x is None else "{:,.0f}".format(x)


def _ratio(a, b):
    return None if a is None or b is None or not b else a / b


def _fmt_ratio(r):
    return "-" if r is None else "%.2fx" % r


def build_rows(ours, peers, mp, checks):
    rows = []
    sizes = {"codec_notify": len(W.SENML_BYTES),
             "codec_register": len(W.register_message().to_bytes())}
    for case, section, label, peer, tag in ROWS:
        if "%d" in label:
            label = label % sizes[case]
        o = ours.get(case, {}).get("best")
        p = peers.get(case, {}).get("best") if peer else None
        m = mp.get(case, {}).get("best")
        if tag == "A" and not checks.get(case, False):
            tag = "A!"        # claimed apples-to-apples but the bytes differed
        rows.append({"id": case, "section": section, "label": label, "tag": tag,
                     "ours_cpython": o, "peer": peer, "peer_cpython": p,
                     "ours_over_peer": _ratio(o, p), "ours_micropython": m,
                     "mp_over_cpython": _ratio(m, o), "same_bytes": checks.get(case),
                     "ours_cpython_mean": ours.get(case, {}).get("mean"),
                     "peer_cpython_mean": peers.get(case, {}).get("mean") if peer else None,
                     "ours_micropython_mean": mp.get(case, {}).get("mean")})
    return rows


def render(rows, heap, meta):
    out = []
    out.append("make bench -- ops/s, best of %d slices in %.2f s per item after %.2f s "
               "warm-up" % (meta["slices"], meta["budget_s"], meta["warmup_s"]))
    out.append("CPython %s | unix port: %s" % (meta["cpython"], meta["micropython"]))
    head = "%-13s %-45s %12s %12s %-8s %9s %12s %7s" % (
        "section", "case", "ours CPy", "peer CPy", "peer", "ours/peer", "ours MP",
        "MP/CPy")
    out.append(head)
    out.append("-" * len(head))
    for r in rows:
        out.append("%-13s %-45s %12s %12s %-8s %9s %12s %7s" % (
            r["section"], "[%s] %s" % (r["tag"], r["label"]), _num(r["ours_cpython"]),
            _num(r["peer_cpython"]), r["peer"] or "-", _fmt_ratio(r["ours_over_peer"]),
            _num(r["ours_micropython"]), _fmt_ratio(r["mp_over_cpython"])))
    out.append("")
    if heap:
        out.append("Heap per call on the unix port (bytes; gc.mem_alloc delta after "
                   "gc.collect, gc disabled; min of 5):")
        for key, label in HEAP_ROWS:
            if key in heap:
                out.append("  %-60s %8d" % (label, heap[key]))
        out.append("")
    out.extend(NOTES)
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny budgets: checks the bench runs, numbers are noise")
    ap.add_argument("--budget", type=float, help="seconds timed per item per side (0.5)")
    ap.add_argument("--slices", type=int, help="slices per budget; best one counts (5)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per item (0.1)")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench.json"))
    ap.add_argument("--micropython", default=os.environ.get("MICROPYTHON") or
                    os.path.join(ROOT, ".venv", "bin", "micropython"))
    args = ap.parse_args(argv)
    budget = args.budget or (0.02 if args.quick else 0.5)
    slices = args.slices or (2 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (0.005 if args.quick else 0.1)
    micropython = args.micropython
    if not os.path.isabs(micropython) and os.sep in micropython:
        micropython = os.path.join(ROOT, micropython)
    for name in ("coap", "coap-server"):
        logging.getLogger(name).setLevel(logging.ERROR)

    t0 = time.perf_counter()
    mp = MpWorker(micropython)
    try:
        ours, peers, mp_rates, checks = run_all(mp, budget, slices, warmup)
        heap = mp.ask("heap")["heap"]
    finally:
        mp.close()
    seconds = time.perf_counter() - t0

    meta = {"budget_s": budget, "slices": slices, "warmup_s": warmup, "quick": args.quick,
            "cpython": sys.version.split()[0], "micropython": mp.hello["version"],
            "micropython_exe": micropython, "seconds_total": round(seconds, 2),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    rows = build_rows(ours, peers, mp_rates, checks)
    print(render(rows, heap, meta))
    print("bench took %.1f s" % seconds)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows, "heap_micropython": heap,
                   "raw": {"cpython_ours": ours, "cpython_peers": peers,
                           "micropython_ours": mp_rates}}, f, indent=1)
    print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
