"""coap.py -- a command-line CoAP client on this project's core.

Runs on the unix-port MicroPython (`micropython tools/coap.py ...`) and on
CPython (`python tools/coap.py ...`). Block-wise transfers are transparent.

usage: coap.py METHOD URI [options]
  METHOD               get | put | post | delete
  URI                  coap://HOST[:PORT]/path?query  (IPv6: coap://[::1]/x)
  --payload TEXT       request payload
  --payload-file FILE  request payload read from FILE
  --content-format CF  number or name (text/plain, cbor, senml+cbor, ...)
  --accept CF          number or name
  --observe N          register, print N notifications, then deregister
  --timeout SECONDS    give up after this long (default 30; per notification
                       with --observe)
  --non                send a Non-confirmable request
  --oscore MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID[:ID_CONTEXT]
                       protect the request with OSCORE (RFC 8613, AES-CCM-16-64-128,
                       HKDF-SHA256); hex fields, all but the secret may be empty,
                       e.g. 0102...10:9e7ca92223786340::01 (an empty ID_CONTEXT is
                       none). The response must be protected too; a 4.01 with Echo
                       (a server that rebooted) is answered once with that Echo.
  --state FILE         where the sender sequence number of --oscore is kept
                       (default ~/.cache/mpy-lwm2m-c2c/coap-oscore.json), so that
                       successive runs never reuse a nonce; written ahead in steps
                       of 64 (RFC 8613 B.1.1). Holds no keys. Use one state file
                       per running process.

Prints the response code (e.g. `2.05 Content`), the options of interest and
the payload (text, CBOR diagnostic notation, or hex). Exit status: 0 for a
2.xx response, 1 for any other response or a timeout, 2 for bad arguments.
Keys are never printed.
"""
import sys

ROOT = __file__.rsplit("tools/", 1)[0] or "."
if sys.implementation.name != "micropython":
    sys.path.insert(0, ROOT + "/tools/shims")
sys.path.insert(0, ROOT + "/lib")
sys.path.append(ROOT + "/tools")

from coap.numbers import (CON, NON, GET, POST, PUT, DELETE, CONTENT_FORMAT,
                          ACCEPT, ETAG, MAX_AGE, LOCATION_PATH, OBSERVE, URI_QUERY,
                          URI_PATH, code_text)
from coap.message import Message
from coap.endpoint import Endpoint, TIMEOUT, RESET
from coap.client import Client
from transport.udp import UdpTransport, resolve_peer
from transport.runner import Runner, now_ms
from oscore_cli import default_state, parse_oscore, security_context

METHODS = {"get": GET, "post": POST, "put": PUT, "delete": DELETE}
FORMATS = {"text/plain": 0, "link-format": 40, "octet-stream": 42, "json": 50,
           "cbor": 60, "senml+json": 110, "senml+cbor": 112, "tlv": 11542,
           "lwm2m+json": 11543, "lwm2m+cbor": 11544}
CBOR_FORMATS = (60, 112, 11544)
CODES = {65: "Created", 66: "Deleted", 67: "Valid", 68: "Changed", 69: "Content",
         95: "Continue", 128: "Bad Request", 129: "Unauthorized", 130: "Bad Option",
         131: "Forbidden", 132: "Not Found", 133: "Method Not Allowed",
         134: "Not Acceptable", 136: "Request Entity Incomplete",
         140: "Precondition Failed", 141: "Request Entity Too Large",
         143: "Unsupported Content-Format", 160: "Internal Server Error",
         161: "Not Implemented", 162: "Bad Gateway", 163: "Service Unavailable",
         164: "Gateway Timeout", 165: "Proxying Not Supported"}


class UsageError(Exception):
    pass


def parse_uri(uri):
    """coap://host[:port]/path?query -> (host, port, [segments], [queries])."""
    if not uri.startswith("coap://"):
        raise UsageError("URI must start with coap:// (coaps is not supported)")
    rest = uri[7:]
    query = []
    if "?" in rest:
        rest, q = rest.split("?", 1)
        query = [x for x in q.split("&") if x]
    authority, _, path = rest.partition("/")
    port = 5683
    if authority.startswith("["):
        host, _, tail = authority[1:].partition("]")
        if tail.startswith(":"):
            port = tail[1:]
    elif ":" in authority:
        host, port = authority.rsplit(":", 1)
    else:
        host = authority
    if not host:
        raise UsageError("URI has no host")
    try:
        port = int(port)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise UsageError("bad port in URI: %s" % port)
    return host, port, [p for p in path.split("/") if p], query


def content_format(text):
    if text in FORMATS:
        return FORMATS[text]
    try:
        value = int(text)
    except ValueError:
        raise UsageError("unknown content format: %s" % text)
    if not 0 <= value <= 65535:
        raise UsageError("content format out of range: %s" % text)
    return value


def parse_args(argv):
    opts = {"payload": b"", "cf": None, "accept": None, "observe": 0,
            "timeout": 30.0, "non": False, "oscore": None, "state": None}
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        needs = arg in ("--payload", "--payload-file", "--content-format",
                        "--accept", "--observe", "--timeout", "--oscore", "--state")
        if needs and i + 1 >= len(argv):
            raise UsageError("%s needs a value" % arg)
        value = argv[i + 1] if needs else None
        if arg == "--payload":
            opts["payload"] = value.encode()
        elif arg == "--payload-file":
            try:
                with open(value, "rb") as f:
                    opts["payload"] = f.read()
            except OSError:
                raise UsageError("cannot read payload file: %s" % value)
        elif arg == "--content-format":
            opts["cf"] = content_format(value)
        elif arg == "--accept":
            opts["accept"] = content_format(value)
        elif arg == "--observe":
            opts["observe"] = _number(arg, value, int, 1)
        elif arg == "--timeout":
            opts["timeout"] = _number(arg, value, float, 0.001)
        elif arg == "--non":
            opts["non"] = True
        elif arg == "--oscore":
            try:
                opts["oscore"] = parse_oscore(value)
            except ValueError as e:
                raise UsageError(str(e))
        elif arg == "--state":
            opts["state"] = value
        elif arg.startswith("--"):
            raise UsageError("unknown option: %s" % arg)
        else:
            positional.append(arg)
        i += 2 if needs else 1
    if len(positional) != 2:
        raise UsageError("expected METHOD and URI")
    method = METHODS.get(positional[0].lower())
    if method is None:
        raise UsageError("unknown method: %s" % positional[0])
    if opts["observe"] and method != GET:
        raise UsageError("--observe needs get")
    if opts["state"] is not None and opts["oscore"] is None:
        raise UsageError("--state needs --oscore")
    opts["method"] = method
    opts["uri"] = parse_uri(positional[1])
    return opts


def _number(name, text, kind, low):
    try:
        value = kind(text)
    except ValueError:
        raise UsageError("%s needs a number" % name)
    if value < low:
        raise UsageError("%s must be at least %s" % (name, low))
    return value


def build_request(opts):
    host, port, path, query = opts["uri"]
    msg = Message(NON if opts["non"] else CON, opts["method"])
    for seg in path:
        msg.add(URI_PATH, seg)
    for q in query:
        msg.add(URI_QUERY, q)
    if opts["cf"] is not None:
        msg.add(CONTENT_FORMAT, opts["cf"])
    if opts["accept"] is not None:
        msg.add(ACCEPT, opts["accept"])
    msg.payload = opts["payload"]
    return msg


def render(response):
    """The lines printed for one response."""
    lines = ["%s %s" % (code_text(response.code), CODES.get(response.code, ""))]
    cf = response.content_format
    if cf is not None:
        lines.append("Content-Format: %d" % cf)
    for label, number in (("ETag", ETAG), ("Max-Age", MAX_AGE), ("Observe", OBSERVE)):
        value = response.get(number)
        if value is not None:
            lines.append("%s: %s" % (label, value.hex() if number == ETAG
                                     else response.uint(number)))
    if response.has(LOCATION_PATH):
        lines.append("Location-Path: /" + "/".join(response.location_path()))
    payload = bytes(response.payload)
    if payload:
        lines.append(show_payload(payload, cf))
    return lines


def show_payload(payload, cf):
    if cf in CBOR_FORMATS:
        try:
            import cbor
            return diagnostic(cbor.loads(payload))
        except (ImportError, ValueError):
            pass
    try:
        text = payload.decode()
        if all(c >= " " or c in "\r\n\t" for c in text):
            return text
    except UnicodeError:
        pass
    return payload.hex()


def diagnostic(obj):
    """RFC 8949 §8 diagnostic notation of a decoded CBOR item."""
    if isinstance(obj, (bytes, bytearray)):
        return "h'%s'" % bytes(obj).hex()
    if isinstance(obj, str):
        return '"%s"' % obj
    if obj is True or obj is False:
        return "true" if obj else "false"
    if obj is None:
        return "null"
    if isinstance(obj, (list, tuple)):
        return "[%s]" % ", ".join(diagnostic(x) for x in obj)
    if isinstance(obj, dict):
        return "{%s}" % ", ".join("%s: %s" % (diagnostic(k), diagnostic(v))
                                  for k, v in obj.items())
    if hasattr(obj, "tag"):
        return "%d(%s)" % (obj.tag, diagnostic(obj.value))
    return repr(obj)


def main(argv):
    try:
        opts = parse_args(argv)
        host, port = opts["uri"][0], opts["uri"][1]
        try:
            peer = resolve_peer(host, port)
        except OSError:
            raise UsageError("cannot resolve host: %s" % host)
        security = None
        if opts["oscore"] is not None:
            try:
                ctx = security_context(opts["oscore"], opts["state"] or
                                       default_state("coap-oscore.json"))
            except ValueError as e:
                raise UsageError(str(e))
            from oscore.secure import Protection
            security = Protection(ctx)
    except UsageError as e:
        print("coap.py: error: %s" % e)
        return 2
    transport = UdpTransport(("::" if ":" in peer[0] else "0.0.0.0", 0))
    endpoint = Endpoint(transport)
    client = Client(endpoint)
    runner = Runner(transport, endpoint)
    state = {"results": [], "error": None}

    def on_response(response, error):
        if response is None:
            state["error"] = error
        else:
            for line in render(response):
                print(line)
            state["results"].append(response.code)

    wanted = max(1, opts["observe"])
    op = client.request(peer, build_request(opts), on_response, now_ms(),
                        observe=bool(opts["observe"]), security=security)
    timeout_ms = int(opts["timeout"] * 1000)
    results = state["results"]
    while True:
        count = len(results)
        ok = runner.run(lambda: len(results) > count or state["error"] is not None,
                        timeout_ms)
        if not ok or state["error"] is not None or len(results) >= wanted or op.done:
            break
    if opts["observe"]:
        op.cancel(deregister=True)
        runner.run(lambda: endpoint.pending() == 0, 2000)
    transport.close()
    if not ok or state["error"] is not None:
        error = state["error"]
        print("coap.py: error: %s" % ("timeout" if error in (None, TIMEOUT) else
                                      "reset by peer" if error == RESET else error))
        return 1
    codes = state["results"]
    return 0 if codes and all(64 <= c < 96 for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
