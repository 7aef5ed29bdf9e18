"""coapd.py -- a small CoAP server on this project's core, for demos and interop.

Runs on the unix-port MicroPython and on CPython:
  micropython tools/coapd.py [--bind HOST:PORT] [--period MS] [--duration S]
                             [--oscore SPEC [--state FILE]]

--oscore MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID[:ID_CONTEXT] (hex, as in
tools/coap.py) adds one OSCORE context: requests protected with it are verified and
answered protected (errors per RFC 8613 section 8.2; after a restart the first request
gets a 4.01 with Echo, B.1.2); unprotected requests are still served. --state FILE
keeps the server's sequence number (default ~/.cache/mpy-lwm2m-c2c/coapd-oscore.json);
use one state file per running process. Keys are never printed.

Resources:
  /hello    GET: a short text
  /counter  GET, observable: a counter that ticks every --period ms (default 1000)
  /big      GET: 4096 bytes of text (served block-wise)
  /store    GET, PUT (replace), POST (append), DELETE (clear); uploads block-wise
  /.well-known/core
Stops after --duration seconds when given (so tests and demos end by themselves).
Prints one line `listening on HOST:PORT` when ready.
"""
import sys

ROOT = __file__.rsplit("tools/", 1)[0] or "."
if sys.implementation.name != "micropython":
    sys.path.insert(0, ROOT + "/tools/shims")
sys.path.insert(0, ROOT + "/lib")
sys.path.append(ROOT + "/tools")

from coap.numbers import CONTENT, CHANGED, CREATED, DELETED, TEXT_PLAIN
from coap.endpoint import Endpoint
from coap.server import Site, reply
from transport.udp import UdpTransport
from transport.runner import Runner, now_ms
from oscore_cli import default_state, parse_oscore, security_context

BIG = b"".join(b"%04d 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV\n"
               % i for i in range(64))


class Text:
    def __init__(self, text):
        self.text = text

    def get(self, request):
        return reply(CONTENT, self.text, TEXT_PLAIN)


class Counter:
    observable = True

    def __init__(self):
        self.value = 0

    def get(self, request):
        return reply(CONTENT, b"%d" % self.value, TEXT_PLAIN)


class Store:
    def __init__(self):
        self.data = b""

    def get(self, request):
        return reply(CONTENT, self.data, TEXT_PLAIN)

    def put(self, request):
        self.data = bytes(request.payload)
        return reply(CHANGED)

    def post(self, request):
        self.data += bytes(request.payload)
        return reply(CREATED)

    def delete(self, request):
        self.data = b""
        return reply(DELETED)


def parse_bind(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port)
    except ValueError:
        raise ValueError("--bind needs HOST:PORT")
    return host or "127.0.0.1", port


def parse_args(argv):
    opts = {"bind": ("127.0.0.1", 5683), "period": 1000, "duration": None,
            "oscore": None, "state": None}
    i = 0
    while i < len(argv):
        if i + 1 >= len(argv):
            raise ValueError("%s needs a value" % argv[i])
        name, value = argv[i], argv[i + 1]
        if name == "--bind":
            opts["bind"] = parse_bind(value)
        elif name == "--period":
            opts["period"] = int(value)
        elif name == "--duration":
            opts["duration"] = float(value)
        elif name == "--oscore":
            opts["oscore"] = parse_oscore(value)
        elif name == "--state":
            opts["state"] = value
        else:
            raise ValueError("unknown option: %s" % name)
        i += 2
    if opts["period"] <= 0:
        raise ValueError("--period must be positive")
    if opts["state"] is not None and opts["oscore"] is None:
        raise ValueError("--state needs --oscore")
    return opts


def main(argv):
    try:
        opts = parse_args(argv)
        ctx = None
        if opts["oscore"] is not None:
            ctx = security_context(opts["oscore"], opts["state"] or
                                   default_state("coapd-oscore.json"))
        transport = UdpTransport(opts["bind"])
    except (ValueError, OSError) as e:
        print("coapd.py: error: %s" % e)
        return 2
    endpoint = Endpoint(transport, dedup_size=256)
    site = Site(endpoint, max_observers=16)
    counter = Counter()
    site.add("hello", Text(b"Hello from MicroPython"))
    site.add("counter", counter)
    site.add("big", Text(BIG))
    site.add("store", Store())
    if ctx is not None:
        from oscore.secure import SecureHandler
        endpoint.handler = SecureHandler(site.handle, [ctx]).handle
    runner = Runner(transport, endpoint)
    host, port = transport.local_address()
    print("listening on %s:%d" % (host, port))
    end = None if opts["duration"] is None else now_ms() + int(opts["duration"] * 1000)
    try:
        while end is None or now_ms() < end:
            runner.run(None, opts["period"] if end is None else
                       min(opts["period"], max(0, end - now_ms())))
            counter.value += 1
            site.changed("counter", now_ms())
    except KeyboardInterrupt:
        pass
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
