"""tools/memreport.py's scenario (a node built by firmware/node.py on the
fake radio with the scripted server: register, temperature and switch
observed, /3/0 and /3303/0 read every 10 s in a rotating format) cut into
steps, so that it measures the same way under the unix port and under the
32-bit wasm build of tools/mp32/run.mjs, which collects garbage only between
steps (see tools/mp32/py/mp32.py):

    .venv/bin/micropython [-X heapsize=N] tools/mp32/memscenario.py [CODE_ROOT] [MINUTES]
    node tools/mp32/run.mjs [--heapsize N] tools/mp32/memscenario.py [CODE_ROOT] [MINUTES]

CODE_ROOT holds lib/, firmware/, boards/common/ as .py or .mpy (default: the
repository); the harness (tools/sim, host_tests/support) comes from the
repository. One step is every radio event at one virtual instant. Before each
step the heap is collected and gc.mem_alloc() read (peak_live); after every
node step gc.mem_alloc() is read again without collecting (peak_alloc: live
heap plus the garbage of the current step, the most this driver needs at once).
Prints "MEMSCENARIO {json}" and exits non-zero if the node does not register or
a request fails."""
import gc
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = HERE[:-len("/tools/mp32")] if HERE.endswith("/tools/mp32") else "."
sys.path.append(HERE + "/py")
import mp32  # noqa: E402

argv = mp32.argv or sys.argv
CODE = argv[1].rstrip("/") if len(argv) > 1 else ROOT
MINUTES = int(argv[2]) if len(argv) > 2 else 10
then = mp32.then
S = {"peak_alloc": 0, "peak_live": 0, "phases": 0}
W = {}                                  # the world: radio, server, node, stepper


def sample():
    a = gc.mem_alloc()
    if a > S["peak_alloc"]:
        S["peak_alloc"] = a


def live():
    a = gc.mem_alloc()                  # called first thing in a step: after a collection
    if a > S["peak_live"]:
        S["peak_live"] = a
    return a


def start():
    sys.path[:] = [CODE + "/firmware", CODE + "/boards/common", CODE + "/lib", ROOT, HERE + "/py"]
    then(start2)


def start2():
    S["start"] = gc.mem_alloc()
    then(imports)


def imports():
    import config                       # noqa: F401
    import node                         # noqa: F401
    import boardkit                     # noqa: F401
    from lwm2m.formats import tlv, senml_json, senml_cbor, lwm2m_cbor, text  # noqa: F401
    then(harness)


def harness():
    S["code"] = gc.mem_alloc()
    from tools.sim.radio import Radio
    from host_tests.support.lwserver import LwServer
    from host_tests.support import simnode  # noqa: F401
    radio = Radio(seed=1, log=False)
    radio.link("node", "srv", delay_ms=5)
    W["radio"], W["server"] = radio, LwServer(radio, ("srv", 5683))
    then(boot)


def boot():
    S["harness"] = gc.mem_alloc()
    import config
    from host_tests.support import simnode
    cfg = config.from_dict({
        "endpoint": "memreport", "dedup_size": 32,
        "servers": [{"uri": "coap://srv:5683", "lifetime": 300}],
        "temperature": [{"kind": "sim", "seed": 5, "step_c": 0.2, "period_ms": 2000}],
        "switch": {"kind": "sim", "period_ms": 30000}, "light": {"kind": "sim"}})
    store = "/tmp/lwm2m-mp32-memscenario"
    import os
    try:
        for n in os.listdir(store):
            os.remove(store + "/" + n)
    except OSError:
        pass
    W["node"], W["stepper"] = simnode.start(W["radio"], ("node", 5683), cfg,
                                            cfg["board_config"], store, after=sample)
    run_to(W["radio"].now_ms + 2000, registered)


def run_to(end, k):
    """Run the radio to virtual time `end`, one step per event instant, then k()."""
    radio = W["radio"]

    def step():
        live()
        S["phases"] += 1
        t = radio.next_event_ms()
        if t is None or t > end:
            radio.run_until(end)
            k()
            return
        radio.run_until(t)
        sample()
        then(step)
    step()


def registered():
    if W["server"].kinds() != ["register"]:
        raise SystemExit("memscenario: the node did not register")
    then(registered2)


def registered2():
    S["registered"] = gc.mem_alloc()
    from coap.message import Message
    from coap.numbers import CON, GET, PUT
    got = W["got"] = {"temp": 0, "switch": 0, "reads": 0, "errors": 0}

    def counter(key):
        def cb(response, error):
            if response is None or response.code >> 5 != 2:
                got["errors"] += 1
            else:
                got[key] += 1
        return cb
    W["counter"] = counter
    server, radio = W["server"], W["radio"]
    server.call(PUT, "/3303/0/5700", query=["pmin=1", "pmax=60"])
    for path, key in (("/3303/0/5700", "temp"), ("/3342/0/5500", "switch")):
        # an Observe that keeps no notification (as tools/memreport.py's observe())
        msg = Message(CON, GET).set_path(path)
        server.client.request(server.peer(), msg, counter(key), radio.now_ms, observe=True)
        radio.wake(server.addr)
    W["end"] = radio.now_ms + MINUTES * 60000
    W["i"] = 0
    then(reads)


def reads():
    from coap.numbers import GET
    radio, server, counter = W["radio"], W["server"], W["counter"]
    if radio.now_ms >= W["end"]:
        then(finish)
        return
    cf = (11542, 110, 112, 11544)[W["i"] % 4]
    server.send(GET, "/3/0", accept=cf, callback=counter("reads"))
    server.send(GET, "/3303/0", accept=cf, callback=counter("reads"))
    W["i"] += 1
    run_to(radio.now_ms + 10000, reads)


def finish():
    S["end_live"] = gc.mem_alloc()
    got, server = W["got"], W["server"]
    S.update({"minutes": MINUTES, "steps": W["stepper"].steps,
              "notifications_temperature": got["temp"], "notifications_switch": got["switch"],
              "reads": got["reads"], "errors": got["errors"],
              "registrations": server.kinds().count("register"),
              "updates": server.kinds().count("update"),
              "interpreter": "%s %d-bit" % (sys.platform, 64 if sys.maxsize > 2 ** 32 else 32),
              "code_root": CODE})
    import json
    print("MEMSCENARIO " + json.dumps(S))
    if got["errors"] or not got["reads"]:
        raise SystemExit("memscenario: %d errors, %d reads" % (got["errors"], got["reads"]))


then(start)
mp32.run()
