"""Heap allocation on the steady-state paths of a registered node (issue 6,
"Memory budgets"): bytes per operation, and whether the path runs under
micropython.heap_lock().

    .venv/bin/micropython tools/budget_paths.py [--json] [--reps N]

Unix-port MicroPython only (heap_lock, gc.mem_alloc). For every path:
- bytes/op: WARMUP operations first (caches, dict growth, first-use
  imports), then gc.collect(), gc.disable() and REPS operations; the
  gc.mem_alloc() difference divided by REPS. That is what the operation
  leaves on the heap (garbage and growth), in whole GC blocks: 32 bytes on
  the 64-bit unix port (reported as gc_block_bytes), whose words are 8
  bytes. A 32-bit board (ESP32, RP2) has 4-byte words and 16-byte blocks,
  so its figures are smaller; these are the unix port's;
- allocation-free: LOCK_REPS more operations under micropython.heap_lock(),
  where any allocation raises MemoryError (caught, then heap_unlock());
  "yes" only when all pass and no step saw a MemoryError (the engine
  catches exceptions in places, so one could be swallowed);
- the first allocating step: during the locked operations the functions
  named in STEPS are wrapped (allocation-free wrappers: module functions
  without closures, positional arguments) and the innermost one that sees
  the first MemoryError is reported ("(outside the named steps)" when the
  path's own code allocated before any of them);
- the breakdown: one more pass of REPS operations with the same wrappers
  counting bytes per step, per operation (inclusive: a step counts what its
  callees allocate), with calls per operation.

The paths:
  coap.encode_into        a notification (NON 2.05, token, Observe,
                          Content-Format, "21.5") into a preallocated buffer
  coap.decode             a CON GET /3303/0/5700 with Accept (the datagram)
  oscore.protect_notification   protect_response() of that notification for
                          an Observe binding (own Partial IV)
  oscore.unprotect_request      unprotect_request() of an OSCORE GET
                          /3303/0/5700 (already decoded outer message)
  notify.plain / notify.oscore  the engine: Temperature.measured() (the
                          value changes) then the reporter's step: read,
                          text/plain encode, Observe, (protect), endpoint
                          send (encode_into the shared buffer) -> transport
  read.plain.text / read.plain.senml-cbor / read.oscore.text /
  read.oscore.senml-cbor  node.receive() of a CON GET /3303/0/5700
                          (Accept 0 or 112) handed over as a memoryview of
                          the receive buffer (firmware/runtime.py; its
                          mv[:n], one block, is not counted): decode,
                          dedup, (unprotect), caller, DM read, encode,
                          (protect), piggybacked ACK encoded and sent, the
                          reply kept for duplicates
  node.step.idle          the main loop's node.step() 1 s later with no
                          request and no notification due (drivers polled:
                          the switch and light on-time values change)

The nodes are built by firmware/node.py through host_tests/support/simnode.py
(like tools/memreport.py): simulated temperature, switch and light, one
server each (plain, or OSCORE), registered and observed over the fake radio.
Then the radio is left: the node's endpoint sends into a sink that copies
each datagram into a preallocated buffer, and the clock is a counter
(10 s between reads, the memreport cadence, so the duplicate-detection table
never fills). OSCORE sequence numbers are persisted every K_SSN (64) uses
(RFC 8613 B.1.1, a file write on this port); the script moves the persisted
limit ahead before each measured run so no save falls inside it.

With --json, the last line is `BUDGET_PATHS {json}` for tools/budget.py:
{"interpreter", "version", "reps", "warmup", "lock_reps", "gc_block_bytes",
 "paths": [{"name", "what", "bytes_per_op", "alloc_free" (bool),
            "first_alloc" (step label or null), "check" ("ok" or what was
            wrong with the path's output), "steps": [[label, bytes/op,
            calls/op], ...]}]}.
Exit status 1 when a path's output check failed, 2 for bad arguments.
"""
import sys
import gc
try:
    import micropython
except ImportError:             # CPython: nothing to measure here
    micropython = None

REPS = 20
WARMUP = 5
LOCK_REPS = 3
_SPEC = "000102030405060708090a0b0c0d0e0f:9e7ca92223786340:01:02"
_SECRET = bytes(range(16))
_SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
_NODE_ID = b"\x01"
_SERVER_ID = b"\x02"

# Functions whose calls are counted and named (module, attribute, label); a
# function imported by name into another module is wrapped where it is
# looked up. Every call site on these paths passes positional arguments only.
STEPS = (
    ("firmware", "node", "Node.step", "node.step"),
    ("lwm2m", "lwm2m.objects.temperature", "Temperature.measured", "Temperature.measured"),
    ("lwm2m", "lwm2m.model", "LwObject.set", "LwObject.set"),
    ("lwm2m", "lwm2m.engine", "Client._changed", "engine.changed"),
    ("firmware", "node", "Node.poll", "node.poll (drivers)"),
    ("lwm2m", "lwm2m.objects.temperature", "Temperature.poll", "Temperature.poll"),
    ("lwm2m", "lwm2m.objects.driven", "Driven.poll", "switch/light poll"),
    ("lwm2m", "lwm2m.engine", "Client.step", "engine.step"),
    ("lwm2m", "lwm2m.engine", "Client.usable_accounts", "engine.usable_accounts"),
    ("lwm2m", "lwm2m.registration", "Registrar.sync", "registrar.sync"),
    ("lwm2m", "lwm2m.registration", "Registrar.step", "registrar.step"),
    ("lwm2m", "lwm2m.bootstrap", "Bootstrap.step", "bootstrap.step"),
    ("lwm2m", "lwm2m.observe", "Reporter.changed", "reporter.changed"),
    ("lwm2m", "lwm2m.observe", "Reporter.step", "reporter.step"),
    ("lwm2m", "lwm2m.observe", "Reporter._evaluate", "reporter.evaluate"),
    ("lwm2m", "lwm2m.observe", "Reporter._notify", "reporter.notify"),
    ("lwm2m", "lwm2m.observe", "Reporter._send", "reporter.send"),
    ("lwm2m", "lwm2m.observe", "Reporter._read", "reporter.read"),
    ("lwm2m", "lwm2m.observe", "triggers", "reporter.triggers"),
    ("lwm2m", "lwm2m.observe", "_snapshot", "reporter.snapshot"),
    ("lwm2m", "lwm2m.observe", "encode", "dm.encode"),
    ("lwm2m", "lwm2m.observe", "reply", "coap.reply"),
    ("lwm2m", "lwm2m.dm", "reply", "coap.reply"),
    ("lwm2m", "lwm2m.engine", "Client.receive", "engine.receive"),
    ("lwm2m", "lwm2m.engine", "Client._entry", "engine.entry"),
    ("lwm2m", "lwm2m.engine", "Client._handle", "engine.handle"),
    ("lwm2m", "lwm2m.engine", "Client._dm_request", "engine.dm_request"),
    ("lwm2m", "lwm2m.callers", "Callers.identify", "callers.identify"),
    ("lwm2m", "lwm2m.callers", "Callers.secure_handler", "callers.secure_handler"),
    ("lwm2m", "lwm2m.dm", "DeviceManagement.handle", "dm.handle"),
    ("lwm2m", "lwm2m.dm", "DeviceManagement.read", "dm.read"),
    ("lwm2m", "lwm2m.dm", "Model.read_records", "dm.read_records"),
    ("lwm2m", "lwm2m.dm", "choose_format", "dm.choose_format"),
    ("lwm2m", "lwm2m.dm", "encode", "dm.encode"),
    ("lwm2m", "lwm2m.formats.text", "encode", "text.encode"),
    ("lwm2m", "lwm2m.formats.senml_cbor", "encode", "senml_cbor.encode"),
    ("lwm2m", "lwm2m.engine", "parse_path", "parse_path"),
    ("lwm2m", "lwm2m.dm", "parse_path", "parse_path"),
    ("coap", "coap.block", "serve_block2", "block.serve_block2"),
    ("coap", "coap.message", "Message.set", "Message.set"),
    ("coap", "coap.message", "Message.path", "Message.path"),
    ("coap", "coap.message", "Message.encode_into", "Message.encode_into"),
    ("coap", "coap.message", "Message.to_bytes", "Message.to_bytes"),
    ("coap", "coap.endpoint", "decode", "coap.decode"),
    ("coap", "coap.message", "decode", "coap.decode"),
    ("coap", "coap.endpoint", "Endpoint.receive", "endpoint.receive"),
    ("coap", "coap.endpoint", "Endpoint._is_duplicate", "endpoint.dedup_lookup"),
    ("coap", "coap.endpoint", "Endpoint._remember", "endpoint.dedup_remember"),
    ("coap", "coap.endpoint", "Endpoint._on_request", "endpoint.on_request"),
    ("coap", "coap.endpoint", "Endpoint._reply", "endpoint.reply"),
    ("coap", "coap.endpoint", "Endpoint.send", "endpoint.send"),
    ("coap", "coap.endpoint", "Endpoint._transmit", "endpoint.transmit"),
    ("coap", "coap.endpoint", "Endpoint.step", "endpoint.step"),
    ("oscore", "oscore.secure", "SecureHandler.handle", "secure.handle"),
    ("oscore", "oscore.secure", "unprotect_request", "oscore.unprotect_request"),
    ("oscore", "oscore.secure", "protect_response", "oscore.protect_response"),
    ("oscore", "oscore.protect", "unprotect_request", "oscore.unprotect_request"),
    ("oscore", "oscore.protect", "protect_response", "oscore.protect_response"),
    ("oscore", "oscore.protect", "_oscore_option", "oscore.option_decode"),
    ("oscore", "oscore.protect", "encode_option", "oscore.option_encode"),
    ("oscore", "oscore.protect", "piv_bytes", "oscore.piv_bytes"),
    ("oscore", "oscore.protect", "aad", "oscore.aad"),
    ("oscore", "oscore.protect", "_seal", "oscore.seal"),
    ("oscore", "oscore.protect", "_open", "oscore.open"),
    ("oscore", "oscore.protect", "_parse", "oscore.parse"),
    ("oscore", "oscore.protect", "decode", "coap.decode(plaintext)"),
    ("oscore", "oscore.context", "SecurityContext.nonce", "oscore.nonce"),
    ("oscore", "oscore.context", "SecurityContext.next_seq", "oscore.next_seq"),
    ("oscore", "oscore.ccm", "AesCcm.encrypt_into", "ccm.encrypt_into"),
    ("oscore", "oscore.ccm", "AesCcm.decrypt_into", "ccm.decrypt_into"),
)

_NO = object()          # "argument not given" for the wrappers
_FUNCS = []             # original function of wrapper i
_BYTES = []             # bytes allocated inside wrapper i (inclusive)
_CALLS = []
_FIRST = [-1]           # index of the innermost wrapper that saw the first MemoryError
_WRAPPER = """
def w(a=_NO, b=_NO, c=_NO, d=_NO, e=_NO, g=_NO, h=_NO, k=_NO):
    f = _FUNCS[%d]
    m0 = mem_alloc()
    try:
        if a is _NO:
            r = f()
        elif b is _NO:
            r = f(a)
        elif c is _NO:
            r = f(a, b)
        elif d is _NO:
            r = f(a, b, c)
        elif e is _NO:
            r = f(a, b, c, d)
        elif g is _NO:
            r = f(a, b, c, d, e)
        elif h is _NO:
            r = f(a, b, c, d, e, g)
        elif k is _NO:
            r = f(a, b, c, d, e, g, h)
        else:
            r = f(a, b, c, d, e, g, h, k)
    except MemoryError:
        if _FIRST[0] < 0:
            _FIRST[0] = %d
        raise
    _BYTES[%d] += mem_alloc() - m0
    _CALLS[%d] += 1
    return r
"""


class Probe:
    """The STEPS wrappers: install() before a pass, remove() after.

    A wrapper is a plain function made with exec (a closure with more than
    a few cells, or *args, would itself allocate when called)."""

    def __init__(self):
        self.labels = []
        self.slots = []             # (owner, name, original, wrapper)
        ns = {"_NO": _NO, "_FUNCS": _FUNCS, "_BYTES": _BYTES, "_CALLS": _CALLS,
              "_FIRST": _FIRST, "mem_alloc": gc.mem_alloc}
        for layer, modname, attr, label in STEPS:
            mod = sys.modules.get(modname)
            if mod is None:
                continue
            owner = mod
            name = attr
            if "." in attr:
                cls, name = attr.split(".")
                owner = getattr(mod, cls, None)
            orig = getattr(owner, name, None) if owner is not None else None
            if orig is None:
                continue
            i = len(_FUNCS)
            _FUNCS.append(orig)
            _BYTES.append(0)
            _CALLS.append(0)
            self.labels.append(label)
            exec(_WRAPPER % (i, i, i, i), ns)
            self.slots.append((owner, name, orig, ns["w"]))

    def install(self):
        for i in range(len(_BYTES)):
            _BYTES[i] = 0
            _CALLS[i] = 0
        _FIRST[0] = -1
        for owner, name, orig, w in self.slots:
            setattr(owner, name, w)

    def remove(self):
        for owner, name, orig, w in self.slots:
            setattr(owner, name, orig)

    def first(self):
        return None if _FIRST[0] < 0 else self.labels[_FIRST[0]]

    def breakdown(self, reps):
        """[(label, bytes/op, calls/op)] of the steps that ran, merged by label."""
        out = {}
        order = []
        for i, label in enumerate(self.labels):
            if _CALLS[i]:
                if label not in out:
                    out[label] = [0, 0]
                    order.append(label)
                out[label][0] += _BYTES[i]
                out[label][1] += _CALLS[i]
        return [(label, _per(out[label][0], reps), _per(out[label][1], reps))
                for label in order]


def _per(total, reps):
    v = total / reps
    return int(v) if v == int(v) else round(v, 1)


class Sink:
    """The node's transport once the radio is left: copies each datagram
    into a preallocated buffer (allocation-free)."""

    def __init__(self):
        self.buf = bytearray(1280)
        self.n = 0
        self.count = 0

    def send(self, peer, data):
        n = len(data)
        self.buf[0:n] = data
        self.n = n
        self.count += 1

    def last(self):
        return bytes(self.buf[:self.n])


# -- measuring -------------------------------------------------------------------
def block_bytes():
    """The GC block size: what one boxed float (a single small object) takes."""
    y = 1.25
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    x = y * 3.0
    m1 = gc.mem_alloc()
    gc.enable()
    return m1 - m0 if x else 0


def measure(op, reps):
    for _ in range(WARMUP):
        op()
    gc.collect()
    gc.disable()
    try:
        m0 = gc.mem_alloc()
        for _ in range(reps):
            op()
        m1 = gc.mem_alloc()
    finally:
        gc.enable()
    return _per(m1 - m0, reps)


def profile(probe, op, reps):
    probe.install()
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            op()
    finally:
        gc.enable()
        probe.remove()
    return probe.breakdown(reps)


def locked(probe, op):
    """(allocation-free, first allocating step) of LOCK_REPS operations."""
    probe.install()
    gc.collect()
    failed = False
    micropython.heap_lock()
    try:
        for _ in range(LOCK_REPS):
            op()
    except MemoryError:
        failed = True
    micropython.heap_unlock()
    probe.remove()
    first = probe.first()
    if failed and first is None:
        first = "(outside the named steps)"
    return not failed and first is None, first


class Path:
    def __init__(self, name, what, op, check, prepare=None):
        self.name = name
        self.what = what
        self.op = op
        self.check = check          # () -> None or a problem (text)
        self.prepare = prepare      # (n operations ahead) -> None
        self.result = {"name": name, "what": what}


# -- the set-up ---------------------------------------------------------------------
def _root():
    f = __file__
    i = f.rfind("tools/")
    return f[:i].rstrip("/") or "." if i >= 0 else "."


def _clear(store):
    import os
    try:
        for n in os.listdir(store):
            os.remove(store + "/" + n)
    except OSError:
        pass


def build_node(radio, name, srv_name, oscore):
    """A node registered with its own scripted server, which observes
    /3303/0/5700 (text/plain). -> (node, server, server context or None)."""
    import config
    from host_tests.support.lwserver import LwServer
    from host_tests.support import simnode
    from coap.numbers import TEXT_PLAIN, GET, PUT
    radio.link(name, srv_name, delay_ms=5)
    server = LwServer(radio, (srv_name, 5683))
    sctx = None
    spec = {"uri": "coap://%s:5683" % srv_name, "lifetime": 86400}
    if oscore:
        from oscore.context import SecurityContext
        from oscore.secure import SecureHandler, Protection
        sctx = SecurityContext(_SECRET, _SERVER_ID, _NODE_ID, master_salt=_SALT)
        server.endpoint.handler = SecureHandler(server.handle, [sctx]).handle
        server.security = Protection(sctx)
        spec["oscore"] = _SPEC
    cfg = config.from_dict({
        "endpoint": "budget-" + name, "dedup_size": 32, "servers": [spec],
        "temperature": [{"kind": "sim", "seed": 5, "step_c": 0.2, "period_ms": 86400000}],
        "switch": {"kind": "sim"}, "light": {"kind": "sim"}})
    store = "/tmp/lwm2m-budget-" + name
    _clear(store)
    node, _ = simnode.start(radio, (name, 5683), cfg, cfg["board_config"], store)
    radio.run_for(2000)
    if server.kinds() != ["register"]:
        raise SystemExit("budget_paths: node %s did not register" % name)
    r = server.call(PUT, "/3303/0/5700", query=["pmin=0", "pmax=86400"])
    if r is None or r.code >> 5 != 2:
        raise SystemExit("budget_paths: write-attributes failed on %s" % name)
    got = server.send(GET, "/3303/0/5700", accept=TEXT_PLAIN, observe=0)
    radio.run_while(lambda: not got, 10000)
    if not got or got[0][0] is None or got[0][0].code >> 5 != 2:
        raise SystemExit("budget_paths: observe failed on %s" % name)
    if not node.engine.reporting.observations:
        raise SystemExit("budget_paths: no observation on %s" % name)
    return node, server, sctx


def ssn_room(ctx, n):
    """Make sure the next `n` sequence numbers of `ctx` need no store write:
    take numbers (as the node would) until the persisted limit is far
    enough ahead. `_limit` is the limit SecurityContext keeps (context.py)."""
    if ctx is None or ctx.store is None:
        return
    while ctx._limit - ctx.ssn < n:
        ctx.next_seq()


def paths(reps):
    from coap.message import Message, decode
    from coap.numbers import (CON, NON, ACK, GET, CONTENT, OBSERVE, CONTENT_FORMAT, ACCEPT,
                              TEXT_PLAIN, SENML_CBOR)
    from oscore.context import SecurityContext
    from oscore.protect import (Binding, protect_request, protect_response,
                                unprotect_request, unprotect_response)
    from tools.sim.radio import Radio
    import coap.message as coap_message
    import oscore.protect as oscore_protect
    import lwm2m.formats.senml_cbor    # noqa: F401 (imported now, not on first use)
    import lwm2m.formats.text          # noqa: F401
    out = []
    need = WARMUP + 2 * reps + LOCK_REPS + 2
    t = [1000000]                       # the clock (ms)

    # (1) CoAP encode of a notification into a preallocated buffer
    note = Message(NON, CONTENT, 0x1234, b"\x01\x02\x03\x04", b"21.5")
    note.add(OBSERVE, 70000).add(CONTENT_FORMAT, TEXT_PLAIN)
    buf = bytearray(1152)
    expect = note.to_bytes()

    def enc():
        note.encode_into(buf)           # a method: the probe wraps Message.encode_into
    out.append(Path("coap.encode_into", "a notification into a preallocated buffer", enc,
                    lambda: None if bytes(buf[:len(expect)]) == expect else "wrong bytes"))

    # (5) CoAP decode of a request
    req = Message(CON, GET, 0x4321, b"\x0a\x0b\x0c\x0d").set_path("/3303/0/5700")
    req.add(ACCEPT, TEXT_PLAIN)
    req_bytes = req.to_bytes()
    dec_out = [None]

    def dec():
        dec_out[0] = coap_message.decode(req_bytes)     # the probe wraps it there
    out.append(Path("coap.decode", "a CON GET /3303/0/5700 with Accept", dec,
                    lambda: None if dec_out[0].path() == ["3303", "0", "5700"] else "wrong"))

    # (2) OSCORE protect of a notification (the node's side of the context)
    nctx = SecurityContext(_SECRET, _NODE_ID, _SERVER_ID, master_salt=_SALT)
    cctx = SecurityContext(_SECRET, _SERVER_ID, _NODE_ID, master_salt=_SALT)
    obs_req = Message(CON, GET, 1, b"\x01\x02\x03\x04").set_path("/3303/0/5700")
    obs_req.add(OBSERVE, 0)
    obs_outer, cbinding = protect_request(cctx, obs_req)
    _, _, nbinding = unprotect_request(lambda kid, kc: nctx, obs_outer)
    prot_out = [None]

    def prot():
        prot_out[0] = oscore_protect.protect_response(nctx, note, nbinding)

    def prot_check():
        inner, _ = unprotect_response(cctx, decode(prot_out[0].to_bytes()), cbinding)
        return None if bytes(inner.payload) == b"21.5" else "wrong payload"
    out.append(Path("oscore.protect_notification",
                    "protect_response() of that notification (own Partial IV)", prot,
                    prot_check))

    # (6) OSCORE unprotect of a request (outer messages decoded beforehand)
    outers = []
    get = Message(CON, GET, 2, b"\x0a\x0b\x0c\x0d").set_path("/3303/0/5700")
    get.add(ACCEPT, TEXT_PLAIN)
    for i in range(need):
        get.mid = 100 + i
        outers.append(decode(protect_request(cctx, get)[0].to_bytes()))
    unp = [0, None]

    def lookup(kid, kid_context):
        return nctx

    def unprot():
        i = unp[0]
        unp[1] = oscore_protect.unprotect_request(lookup, outers[i])
        unp[0] = i + 1
    out.append(Path("oscore.unprotect_request", "unprotect_request() of an OSCORE GET",
                    unprot, lambda: None if unp[1][0].path() == ["3303", "0", "5700"]
                    else "wrong"))

    # the engine: two nodes on the fake radio, then a sink and our own clock
    radio = Radio(seed=1, log=False)
    nodes = {}
    for kind, oscore in (("plain", False), ("oscore", True)):
        node, server, sctx = build_node(radio, "n" + kind, "s" + kind, oscore)
        sink = Sink()
        node.engine.endpoint.transport = sink
        nodes[kind] = (node, server, sctx, sink)
    values = (21.5, 22.0)

    for kind in ("plain", "oscore"):
        node, server, sctx, sink = nodes[kind]
        nctx_node = node.engine.oscore_context(0) if kind == "oscore" else None
        temp = node.temperature
        reporter = node.engine.reporting

        def notify(temp=temp, reporter=reporter, flip=[0]):
            t[0] += 1000
            flip[0] ^= 1                # a real change every time, per node
            temp.measured(0, values[flip[0]])
            reporter.step(t[0])

        def notify_check(node=node, sink=sink, kind=kind, count=[0]):
            if sink.count == count[0]:
                return "nothing sent"
            count[0] = sink.count
            m = decode(sink.last())
            if m.mtype != NON or not m.has(OBSERVE):
                return "not a notification: %r" % m
            if kind == "oscore" and not m.has(9):
                return "not protected"
            return None
        out.append(Path("notify." + kind, "value change -> reporter -> encode%s -> send"
                        % (" -> protect" if kind == "oscore" else ""), notify, notify_check,
                        lambda n, c=nctx_node: ssn_room(c, n)))

    for kind in ("plain", "oscore"):
        node, server, sctx, sink = nodes[kind]
        peer = ("s" + kind, 5683)
        for cf, cfname in ((TEXT_PLAIN, "text"), (SENML_CBOR, "senml-cbor")):
            datagrams = []
            bindings = []
            for i in range(need):
                m = Message(CON, GET, (0x2000 + i + 1000 * cf) & 0xFFFF,
                            b"\x0a\x0b\x0c\x0d").set_path("/3303/0/5700")
                m.add(ACCEPT, cf)
                if sctx is not None:
                    m, b = protect_request(sctx, m)
                    bindings.append(b)
                datagrams.append(m.to_bytes())
            state = [0]
            rx = bytearray(1280)        # the receive buffer of firmware/runtime.py
            views = {}                  # its views, made here rather than per datagram
            for d in datagrams:
                views[len(d)] = memoryview(rx)[:len(d)]

            def read(node=node, peer=peer, datagrams=datagrams, state=state, rx=rx,
                     views=views):
                i = state[0]
                d = datagrams[i]
                n = len(d)
                rx[0:n] = d             # "received" into the buffer, handed over
                t[0] += 10000           # as a view, like runtime.receive()
                node.receive(views[n], peer, t[0])
                state[0] = i + 1

            def read_check(sink=sink, sctx=sctx, bindings=bindings, state=state, cf=cf):
                m = decode(sink.last())
                if m.mtype != ACK:
                    return "no piggybacked response: %r" % m
                if sctx is not None:
                    m, _ = unprotect_response(sctx, m, bindings[state[0] - 1])
                if m.code != CONTENT or m.content_format != cf:
                    return "not 2.05 in the format asked: %r" % m
                return None
            out.append(Path("read.%s.%s" % (kind, cfname),
                            "CON GET /3303/0/5700 Accept %d -> piggybacked 2.05 sent" % cf,
                            read, read_check))

    node, server, sctx, sink = nodes["plain"]

    def idle(node=node):
        t[0] += 1000
        node.step(t[0])
    out.append(Path("node.step.idle", "the main loop's node.step() with nothing due", idle,
                    lambda: None))
    return out


def run(reps):
    root = _root()
    sys.path[:0] = [root, root + "/lib", root + "/firmware", root + "/boards/common"]
    all_paths = paths(reps)
    probe = Probe()
    for p in all_paths:                 # bytes and breakdown for all paths first ...
        if p.prepare:
            p.prepare(WARMUP + 2 * reps + 2)
        p.result["bytes_per_op"] = measure(p.op, reps)
        problem = p.check()
        p.result["steps"] = profile(probe, p.op, reps)
        problem = problem or p.check()
        p.result["check"] = problem or "ok"
    for p in all_paths:                 # ... then heap_lock, which may break a path
        if p.prepare:
            p.prepare(LOCK_REPS + 2)
        ok, first = locked(probe, p.op)
        p.result["alloc_free"] = ok
        p.result["first_alloc"] = first
    return [p.result for p in all_paths]


def table(results, out=print):
    out("%-28s %10s  %-10s %s" % ("path", "bytes/op", "alloc-free", "first allocating step"))
    for r in results:
        out("%-28s %10s  %-10s %s" % (r["name"], r["bytes_per_op"],
                                       "yes" if r["alloc_free"] else "no",
                                       r["first_alloc"] or "-"))
    out("")
    out("bytes/op by step (inclusive of what a step calls; calls/op in brackets)")
    for r in results:
        if r["check"] != "ok":
            out("  %s: CHECK FAILED: %s" % (r["name"], r["check"]))
        steps = [s for s in r["steps"] if s[1]]
        if steps:
            out("  %s: %s" % (r["name"], ", ".join("%s %s [%s]" % s for s in steps)))


def main(argv):
    reps = REPS
    as_json = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            as_json = True
        elif a == "--reps" and i + 1 < len(argv) and argv[i + 1].isdigit():
            reps = max(1, int(argv[i + 1]))
            i += 1
        else:
            print("usage: micropython tools/budget_paths.py [--json] [--reps N]")
            return 2
        i += 1
    if micropython is None or not hasattr(micropython, "heap_lock"):
        print("budget_paths: needs the unix-port MicroPython (micropython.heap_lock)")
        return 2
    results = run(reps)
    table(results)
    if as_json:
        import json
        print("BUDGET_PATHS " + json.dumps({
            "interpreter": sys.implementation.name, "version": sys.version,
            "reps": reps, "warmup": WARMUP, "lock_reps": LOCK_REPS,
            "gc_block_bytes": block_bytes(), "paths": results}))
    return 0 if all(r["check"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
