"""The node's entry point, on a board and on the unix port (and CPython).

Unix port, from the repo root (see firmware/config.py for every flag):
    umask 077; micropython firmware/main.py --endpoint NAME --server coap://HOST:PORT ...
The state directory holds OSCORE Master Secrets and the unix port cannot
chmod: the umask keeps it and its files private (`make run` sets it).
On a board: /main.py runs at boot with /config.json (tools/deploy.py).

Start-up: sys.path (unix: lib/, boards/common, boards/<board>, firmware/),
the config (bad flags or config: one line on stderr, exit status 2), the
board (boards/<name>/board.py, by config "board" or sys.platform), the node
(firmware/node.py) and its application behaviours (firmware/apps.py),
then the asyncio runtime (firmware/runtime.py) until a
stop: Ctrl-C (SIGINT: KeyboardInterrupt), SIGTERM where it can be caught,
or an executed Reboot / Factory Reset. A stop de-registers from every
server; a Reboot resets the board (unix: the node restarts in-process,
with its state), a Factory Reset first forgets what servers configured.

SIGTERM: the unix port has no `signal` module and leaves SIGTERM at its
default action (the process ends at once, no de-registration). A launcher
may turn it into something readable: when the environment variable
LWM2M_STOP_FD names a file descriptor, the node stops cleanly once it is
readable: tools/run_node.py (used by `make run`) does that for the pip unix
port, which runs inside a CPython process. Under CPython, SIGTERM is handled
like SIGINT.
"""
import sys

_BOARDS = {"linux": "unix", "darwin": "unix", "esp32": "esp32", "rp2": "rp2_pico_w"}


def _root():
    f = globals().get("__file__") or ""
    here = f.rsplit("/", 1)[0] if "/" in f else "."
    return here, (here.rsplit("/", 1)[0] if "/" in here else (".." if here == "." else "."))


def _paths(board):
    """Unix port and CPython: our modules from the repository tree."""
    here, root = _root()
    for p in (here, root + "/boards/" + board, root + "/boards/common", root + "/lib"):
        if p not in sys.path:
            sys.path.insert(1, p)
    if sys.implementation.name != "micropython":
        sys.path.append(root + "/tools/shims")      # the `micropython` module
    return root


def _fail(text, status=2):
    sys.stderr.write("main.py: error: %s\n" % text)
    return status


def _rmdir(path):
    import os
    try:
        os.rmdir(path)                      # only when empty
    except OSError:
        pass


def _stop_fd():
    import os
    v = os.getenv("LWM2M_STOP_FD")
    return int(v) if v and v.isdigit() else None


def _catch_sigterm():
    """CPython: SIGTERM stops the node like Ctrl-C. (`signal` is not a
    MicroPython module, hence no import statement for it.)"""
    try:
        signal = __import__("signal")
    except ImportError:
        return

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # one stop is enough
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)


def load(argv, board):
    """(cfg, board config) from the command line (unix) or /config.json."""
    import config
    if board != "unix":
        from boardkit import load_json
        raw = load_json("config.json")
        return config.from_dict(raw), raw
    cfg = config.parse(argv)
    if cfg.get("help"):
        return cfg, None
    raw = dict(cfg["board_config"])
    raw["serial"] = cfg["endpoint"]
    raw["endpoint_prefix"] = ""
    raw["bind"] = [cfg["bind"][0], cfg["bind"][1]]
    raw["store_dir"] = _root()[1] + "/state"
    return cfg, raw


def main(argv=None):
    name = _BOARDS.get(sys.platform, "unix")
    if name == "unix":
        _paths(name)
    import config
    try:
        cfg, raw = load(sys.argv[1:] if argv is None else argv, name)
    except config.ConfigError as e:
        return _fail(e)
    if cfg.get("help"):
        print(config.USAGE)
        return 0
    from logger import Log
    from transport.runner import now_ms
    log = Log(cfg["log"], now_ms)
    _catch_sigterm()
    status = None
    while status is None:
        status = run_once(cfg, raw, name, log)
    return status


def run_once(cfg, raw, name, log):
    """One boot of the node: None to boot again (a Reboot on unix), else the
    exit status."""
    import board as board_module
    from node import Node, FACTORY_RESET
    from runtime import Runtime, shutdown, STOP
    import aio
    import apps
    try:
        board = board_module.setup(raw)
    except ValueError as e:                 # a device entry the board cannot build
        return _fail("config: %s" % e)
    except OSError as e:                    # the address is taken, no such interface...
        where = " %s:%d" % cfg["bind"] if name == "unix" else ""
        return _fail("cannot bind%s: %s" % (where, e), 1)
    for w in board.warnings:
        log.warning(w)
    reason, node, app = STOP, None, None
    try:
        node = Node(cfg, board, log)
        app = apps.install(node, cfg, log)      # "follow", event lines
        if node.store_dir != board.store_dir:
            _rmdir(board.store_dir)             # the board's default, unused
        host, port = board.transport.local_address()
        log.info("%s on %s:%d, state in %s" % (node.endpoint, host, port, node.store_dir))
        repl = cfg["repl"] if cfg["repl"] is not None else name != "unix"
        rt = Runtime(node, board, log, cfg["poll_ms"], _stop_fd() if name == "unix" else None,
                     repl)
        reason = aio.run(rt.main())
    except KeyboardInterrupt:
        reason = STOP
    try:
        if reason == STOP and node is not None:
            if app is not None:
                app.stop()                      # ends our observations at peers
            log.info("stopping: de-registering")
            if shutdown(node, board, log, cfg["deregister_ms"]):
                log.always("deregistered")
        elif reason == FACTORY_RESET:
            log.info("factory reset")
            node.factory_reset()
    except KeyboardInterrupt:
        log.warning("interrupted again: stopping without de-registration")
    finally:
        board.transport.close()
    if reason == STOP:
        return 0
    log.always("rebooting")
    if name != "unix":
        board.reset()
    return None


if __name__ == "__main__":
    sys.exit(main())
