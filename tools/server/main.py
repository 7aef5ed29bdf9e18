"""Command line of the reference LwM2M server.

usage: python -m tools.server [--bind HOST:PORT] [--script FILE] [--headless]
                              [--oscore SPEC]... [--state FILE]
                              [--policy FILE [--grants FILE]]
                              [--objects DIR] [--timeout SECONDS]
                              [--duration SECONDS] [--log LEVEL]
  (or: python tools/server/main.py ...)

  --bind HOST:PORT    UDP address to serve on (default 0.0.0.0:5683; [::]:5683
                      for IPv6; port 0 picks a free one)
  --script FILE       run the console commands of FILE (one a line, # comments),
                      then exit: status 0 when every command could be carried
                      out, 1 otherwise ('-' reads them from stdin)
  --headless          no console: serve and print events until SIGINT/SIGTERM
                      or --duration
  --oscore SPEC       accept clients protected with this OSCORE context, seen
                      from the server: MASTER_SECRET:MASTER_SALT:SENDER_ID:
                      RECIPIENT_ID[:ID_CONTEXT] (hex); once per client. A client
                      that registers under it is bound to it, and everything the
                      server sends it is protected with it. Keys are never printed.
  --state FILE        where the sender sequence numbers of the --oscore contexts
                      are kept (RFC 8613 B.1.1; no keys; default
                      ~/.cache/mpy-lwm2m-c2c/server-oscore.json)
  --policy FILE       serve the client-to-client authorization service /ac
                      (rt="lwm2m.auth") with the rules of FILE (JSON, or TOML
                      when it ends in .toml; see tools/server/policy.py):
                      which requesters may get which access bits on which
                      paths of which hosts; anything else is refused. The
                      console then has grants, grant, revoke, cleanup, policy.
  --grants FILE       keep the grant records (who holds which account, IDs
                      and rights; never keys) in FILE across restarts, so
                      minted IDs stay unique and old grants can be revoked
  --objects DIR       folder of OMA object XML (default: ../shared/lwm2m-objects
                      beside the repo, else lib/lwm2m/defs.py)
  --timeout SECONDS   how long a console command waits for its answer
                      (default 100: a little more than CoAP's MAX_TRANSMIT_WAIT)
  --duration SECONDS  stop after this long
  --log LEVEL         debug, info, warning (default), error: log to stderr

Without --script or --headless, commands are read from stdin (see `help`);
end of input or `quit` stops the server. It prints `listening on HOST:PORT`
once ready. Bad arguments: one line on stderr, exit status 2.
"""
import os
import select
import signal
import sys

if __package__ in (None, ""):           # run as a file: python tools/server/main.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import tools.server  # noqa: E402,F401  (puts lib/ and the shims on sys.path)
import logging  # noqa: E402

from transport.udp import UdpTransport  # noqa: E402
from transport.runner import now_ms  # noqa: E402

from tools.server.server import Server  # noqa: E402
from tools.server.objects import ObjectTable  # noqa: E402
from tools.server.driver import UdpDriver  # noqa: E402
from tools.server.console import Console  # noqa: E402

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


class UsageError(Exception):
    pass


def parse_bind(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError("--bind needs HOST:PORT, e.g. 127.0.0.1:5683")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)


def _positive(name, text, zero_ok=False):
    try:
        value = float(text)
    except ValueError:
        raise UsageError("%s needs a number of seconds" % name)
    if value < 0 or (value == 0 and not zero_ok) or value != value:
        raise UsageError("%s must be positive" % name)
    return value


def parse_args(argv):
    opts = {"bind": ("0.0.0.0", 5683), "script": None, "headless": False,
            "objects": None, "timeout": 100.0, "duration": None, "log": "warning",
            "oscore": [], "state": None, "policy": None, "grants": None}
    i = 0
    takes = ("--bind", "--script", "--objects", "--timeout", "--duration", "--log",
             "--oscore", "--state", "--policy", "--grants")
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            opts["help"] = True
            i += 1
            continue
        if arg == "--headless":
            opts["headless"] = True
            i += 1
            continue
        if arg not in takes:
            raise UsageError("unknown argument %r" % arg)
        if i + 1 >= len(argv):
            raise UsageError("%s needs a value" % arg)
        value = argv[i + 1]
        if arg == "--bind":
            opts["bind"] = parse_bind(value)
        elif arg == "--script":
            if value != "-" and not os.path.isfile(value):
                raise UsageError("no such script file: %s" % value)
            opts["script"] = value
        elif arg == "--objects":
            if not os.path.isdir(value):
                raise UsageError("no such folder: %s" % value)
            opts["objects"] = value
        elif arg == "--timeout":
            opts["timeout"] = _positive(arg, value)
        elif arg == "--duration":
            opts["duration"] = _positive(arg, value)
        elif arg == "--oscore":
            from tools.oscore_cli import parse_oscore
            try:
                opts["oscore"].append(parse_oscore(value))
            except ValueError as e:         # the reason never repeats key material
                raise UsageError(str(e))
        elif arg == "--state":
            opts["state"] = value
        elif arg == "--policy":
            from tools.server.policy import Policy, PolicyError
            try:
                opts["policy"] = Policy.load(value)
            except PolicyError as e:
                raise UsageError("--policy: %s" % e)
        elif arg == "--grants":
            opts["grants"] = value
        elif arg == "--log":
            if value.lower() not in LEVELS:
                raise UsageError("--log is one of %s" % ", ".join(LEVELS))
            opts["log"] = value.lower()
        i += 2
    if opts["script"] and opts["headless"]:
        raise UsageError("--script and --headless exclude each other")
    if opts["state"] is not None and not opts["oscore"]:
        raise UsageError("--state needs --oscore")
    if opts["grants"] is not None and opts["policy"] is None:
        raise UsageError("--grants needs --policy")
    return opts


def oscore_contexts(specs, state):
    """SecurityContexts for the --oscore specs, their sequence numbers kept in
    one state file (one FileStore shared by all, so none overwrites another)."""
    from oscore.context import SecurityContext
    from tools.oscore_cli import FileStore, default_state
    store = FileStore(state or default_state("server-oscore.json"))
    return [SecurityContext(s["secret"], s["sid"], s["rid"], s["salt"], s["idctx"],
                            store=store) for s in specs]


def _out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv):
    try:
        opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("server: error: %s\n" % e)
        return 2
    if opts.get("help"):
        _out(__doc__.strip())
        return 0
    logging.basicConfig(level=LEVELS[opts["log"]], stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        objects = ObjectTable.load(opts["objects"])
    except (OSError, ValueError) as e:
        sys.stderr.write("server: error: cannot load objects: %s\n" % e)
        return 2
    try:
        contexts = oscore_contexts(opts["oscore"], opts["state"]) if opts["oscore"] else []
    except (OSError, ValueError) as e:
        sys.stderr.write("server: error: %s\n" % e)
        return 2
    try:
        transport = UdpTransport(opts["bind"])
    except (OSError, ValueError) as e:
        sys.stderr.write("server: error: cannot bind %s:%d: %s\n"
                         % (opts["bind"][0], opts["bind"][1], e))
        return 2

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)

    server = Server(transport, objects=objects)
    if contexts:
        try:
            server.enable_oscore(contexts)
        except ValueError as e:             # two contexts with one Recipient ID
            transport.close()
            sys.stderr.write("server: error: --oscore: %s\n" % e)
            return 2
    driver = UdpDriver(server, transport)
    if opts["policy"] is not None:
        from tools.server.authz import Authz
        try:
            Authz(server, opts["policy"], records=opts["grants"])
        except ValueError as e:
            transport.close()
            sys.stderr.write("server: error: --grants: %s\n" % e)
            return 2
    console = Console(server, _out, int(opts["timeout"] * 1000))
    host, port = transport.local_address()
    _out("listening on %s:%d" % (("[%s]" % host) if ":" in host else host, port))
    end = None if opts["duration"] is None else now_ms() + int(opts["duration"] * 1000)
    status = 0
    try:
        if opts["script"]:
            status = run_script(console, opts["script"])
        elif opts["headless"]:
            driver.run(None, None if end is None else max(0, end - now_ms()))
        else:
            interactive(console, driver, transport, end)
    except KeyboardInterrupt:
        pass
    finally:
        transport.close()
    return status


def run_script(console, name):
    stream = sys.stdin if name == "-" else open(name)
    try:
        for line in stream:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            _out("> " + line)
            if not console.execute(line):
                break
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 1 if console.errors else 0


def interactive(console, driver, transport, end):
    """Serve and read commands from stdin until quit, EOF or `end`. Reads the
    file descriptor itself: lines that arrive together are all handled."""
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        now = now_ms()
        if end is not None and now >= end:
            return
        deadline = driver.poll(0)
        wait = 1000 if deadline is None else max(0, deadline - now_ms())
        if end is not None:
            wait = min(wait, max(0, end - now_ms()))
        ready, _, _ = select.select([transport.sock, fd], [], [], wait / 1000.0)
        if fd not in ready:
            continue
        chunk = os.read(fd, 4096)
        pending += chunk
        lines = pending.split(b"\n")
        pending = b"" if not chunk else lines.pop()
        for raw in lines:
            if not console.execute(raw.decode("utf-8", "replace")):
                return
        if not chunk:
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
