"""The node's configuration: command-line flags and a JSON config file,
checked and turned into one plain dict (`parse()`), with one-line errors.

    micropython firmware/main.py --endpoint NAME --server coap://HOST:PORT
        [--bind HOST:PORT] [--lifetime SECONDS] [--state DIR]
        [--oscore MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID[:ID_CONTEXT]]
        [--bootstrap coap://HOST:PORT] [--config FILE] [--log LEVEL] [--c2c]

Flags override the file. The file (a JSON object) holds what the flags
hold and more:
    endpoint, bind ("HOST:PORT"), state, log, lifetime (every server's default)
    servers: [{uri, ssid (default 1, 2...), lifetime, binding ("U"/"UQ"),
               oscore ("SECRET:SALT:SID:RID[:IDCTX]" or {master_secret, ...}),
               pmin, pmax, storing}]        (or "server": URI for just one)
    bootstrap: URI or {uri, oscore}
    acl: [{object, instance, owner, acl: {ssid: bits}}]   (several servers)
    poll_ms (driver polling, 100), deregister_ms (stop timeout, 5000),
    dedup_size, repl, board
    c2c: {"allow_nosec": false} (or true) -- the client-to-client extension
         (firmware/node.py); --c2c is the same with the defaults
    follow: {"endpoint": "switch", "path": "/3342/0/5500",
             "target": "/3311/0/5850", "address": "coap://HOST:PORT",
             "retry_ms": 5000} -- observe a peer's resource directly and
         copy it into ours (firmware/apps.py; implies c2c; address optional)
    events: true/false -- one `event ...` line per event (firmware/apps.py;
         default: on with c2c or follow)
    and the board's keys (boards/README.md): temperature, switch, light,
    watchdog_ms, wifi, serial, endpoint_prefix, server_uri, ...
--server replaces the first server's URI, --oscore sets its OSCORE context,
--lifetime every server's lifetime. A board without a command line reads
its /config.json the same way (`from_dict()`). Bad input raises
ConfigError, whose text is the whole message (never key material). Runs
on MicroPython and CPython alike.
"""
import binascii
import json

USAGE = ("usage: main.py --endpoint NAME --server coap://HOST:PORT [--bind HOST:PORT] "
         "[--lifetime SECONDS] [--state DIR] [--oscore SECRET:SALT:SID:RID[:IDCTX]] "
         "[--bootstrap coap://HOST:PORT] [--config FILE] [--log LEVEL] [--c2c]")
LEVELS = ("debug", "info", "warning", "error")
FLAGS = ("--endpoint", "--server", "--bind", "--lifetime", "--state", "--oscore",
         "--bootstrap", "--config", "--log", "--c2c")
SWITCHES = ("--c2c",)      # flags without a value
DEFAULT_LIFETIME = 300
MAX_SERVERS = 8

# Keys of the config file: ours, then the board's (boards/README.md), which
# are handed to boards/<name>/board.py untouched.
OWN_KEYS = ("endpoint", "servers", "server", "bootstrap", "lifetime", "bind", "state",
            "log", "poll_ms", "acl", "deregister_ms", "board", "repl", "dedup_size",
            "c2c", "follow", "events")
BOARD_KEYS = ("endpoint_prefix", "serial", "server_uri", "log_level", "local_port",
              "store_dir", "watchdog_ms", "wifi", "temperature", "switch", "light",
              "about")
SERVER_KEYS = ("uri", "ssid", "lifetime", "binding", "oscore", "pmin", "pmax",
               "storing")
ACL_KEYS = ("object", "instance", "owner", "acl")
FOLLOW_KEYS = ("endpoint", "path", "target", "address", "retry_ms")


class ConfigError(ValueError):
    """A one-line reason the configuration cannot be used."""


def _int(what, value, lo, hi):
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError("%s must be a whole number in %d..%d" % (what, lo, hi))
    return value


def parse_uri(what, text):
    """(host, port) of coap://HOST[:PORT][/]; IPv6 hosts in brackets."""
    if not isinstance(text, str) or not text.startswith("coap://"):
        if isinstance(text, str) and text.startswith("coaps://"):
            raise ConfigError("%s: coaps (DTLS) is not supported; use coap:// with --oscore"
                              % what)
        raise ConfigError("%s needs a coap://HOST:PORT URI" % what)
    rest = text[7:].rstrip("/")
    if "/" in rest or "?" in rest:
        raise ConfigError("%s: a server URI has no path" % what)
    return parse_hostport(what, rest, 5683)


def parse_hostport(what, text, default_port=None):
    if not isinstance(text, str):
        raise ConfigError("%s needs HOST:PORT" % what)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError("%s: unclosed [ in the address" % what)
        host, rest = text[1:end], text[end + 1:]
    else:
        i = text.rfind(":")
        if i >= 0 and ":" in text[:i]:          # a bare IPv6 address
            host, rest = text, ""
        else:
            host, rest = (text[:i], text[i:]) if i >= 0 else (text, "")
    if not host or " " in host:
        raise ConfigError("%s: missing host" % what)
    if rest:
        if not rest.startswith(":"):
            raise ConfigError("%s needs HOST:PORT" % what)
        port = _int(what + " port", rest[1:], 0, 65535)
    elif default_port is None:
        raise ConfigError("%s needs HOST:PORT" % what)
    else:
        port = default_port
    return host, port


def parse_oscore(what, text):
    """{"secret", "salt", "sid", "rid", "idctx"} (bytes; idctx None) from
    MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID[:ID_CONTEXT] in hex, or
    from a dict with those names (master_secret, ...). Errors never repeat
    key material."""
    if isinstance(text, dict):
        text = ":".join(text.get(k) or "" for k in (
            "master_secret", "master_salt", "sender_id", "recipient_id", "id_context"))
    if not isinstance(text, str):
        raise ConfigError("%s needs SECRET:SALT:SID:RID[:IDCTX] in hex" % what)
    parts = text.split(":")
    if len(parts) not in (4, 5):
        raise ConfigError("%s needs MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID"
                          "[:ID_CONTEXT] (hex)" % what)
    names = ("MASTER_SECRET", "MASTER_SALT", "SENDER_ID", "RECIPIENT_ID", "ID_CONTEXT")
    vals = []
    for name, part in zip(names, parts):
        try:
            vals.append(binascii.unhexlify(part))
        except (ValueError, TypeError):
            raise ConfigError("%s: %s is not hex" % (what, name))
    if not vals[0]:
        raise ConfigError("%s: MASTER_SECRET is empty" % what)
    if len(vals[2]) > 7 or len(vals[3]) > 7:
        raise ConfigError("%s: SENDER_ID and RECIPIENT_ID have at most 7 bytes" % what)
    if vals[2] == vals[3]:
        raise ConfigError("%s: SENDER_ID and RECIPIENT_ID must differ" % what)
    idctx = vals[4] if len(vals) == 5 and vals[4] else None
    return {"secret": vals[0], "salt": vals[1], "sid": vals[2], "rid": vals[3],
            "idctx": idctx}


def parse_argv(argv):
    """{flag name: value} from the command line (`--flag VALUE` or
    `--flag=VALUE`); {"help": True} for -h/--help."""
    out = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            return {"help": True}
        value = None
        if "=" in arg and arg.startswith("--"):
            arg, value = arg.split("=", 1)
        if arg not in FLAGS:
            raise ConfigError("unknown argument %r (see --help)" % arg)
        if arg in SWITCHES:
            if value is not None:
                raise ConfigError("%s takes no value" % arg)
            value = True
        elif value is None:
            if i + 1 >= len(argv) or argv[i + 1] in FLAGS:
                raise ConfigError("%s needs a value" % arg)
            i += 1
            value = argv[i]
        name = arg[2:]
        if name in out:
            raise ConfigError("%s given twice" % arg)
        out[name] = value
        i += 1
    return out


def read_file(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("--config: cannot read %s" % path)
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError("--config: %s is not valid JSON" % path)
    if not isinstance(data, dict):
        raise ConfigError("--config: %s must hold a JSON object" % path)
    return data


def parse(argv, read=read_file):
    """The configuration from the command line (argv without the program):
    the --config file, then the flags over it. {"help": True} for --help."""
    flags = parse_argv(argv)
    if flags.get("help"):
        return flags
    data = read(flags["config"]) if "config" in flags else {}
    for key in data:
        if key not in OWN_KEYS and key not in BOARD_KEYS:
            raise ConfigError("config: unknown key %r" % key)
    data = dict(data)
    servers = _servers_of(data)
    if "server" in flags:
        first = dict(servers[0]) if servers else {}
        first["uri"] = flags["server"]
        servers = [first] + servers[1:]
    if "oscore" in flags:
        if not servers:
            raise ConfigError("--oscore needs --server")
        servers[0] = dict(servers[0], oscore=flags["oscore"])
    if "lifetime" in flags:
        data["lifetime"] = flags["lifetime"]
        servers = [dict(s, lifetime=flags["lifetime"]) for s in servers]
    if servers:
        data["servers"] = servers
    data.pop("server", None)
    data.pop("server_uri", None)
    for name in ("endpoint", "bind", "state", "log", "bootstrap"):
        if name in flags:
            data[name] = flags[name]
    if flags.get("c2c"):
        data["c2c"] = data["c2c"] if isinstance(data.get("c2c"), dict) else {}
    cfg = from_dict(data)
    if cfg["endpoint"] is None:
        raise ConfigError("--endpoint is required")
    if not cfg["servers"] and cfg["bootstrap"] is None:
        raise ConfigError("--server is required (or --bootstrap, or servers in --config)")
    return cfg


def _servers_of(data):
    servers = data.get("servers")
    if servers is None:
        uri = data.get("server", data.get("server_uri"))
        return [{"uri": uri}] if uri else []
    if not isinstance(servers, list) or not servers:
        raise ConfigError("config: servers must be a non-empty list")
    return list(servers)


def _server(i, s, lifetime):
    what = "servers[%d]" % i
    if not isinstance(s, dict):
        raise ConfigError("config: %s must be an object" % what)
    for k in s:
        if k not in SERVER_KEYS:
            raise ConfigError("config: %s: unknown key %r" % (what, k))
    host, port = parse_uri("--server" if i == 0 else what, s.get("uri"))
    out = {"uri": s["uri"], "host": host, "port": port,
           "ssid": _int(what + ".ssid", s.get("ssid", i + 1), 1, 65534),
           "lifetime": _int("--lifetime", s.get("lifetime", lifetime), 1, 0x7FFFFFFF),
           "binding": s.get("binding", "U"),
           "oscore": None}
    if out["binding"] not in ("U", "UQ"):
        raise ConfigError("config: %s.binding is U or UQ" % what)
    if s.get("oscore"):
        out["oscore"] = parse_oscore("--oscore" if i == 0 else what + ".oscore",
                                     s["oscore"])
    for k in ("pmin", "pmax"):
        if k in s:
            out[k] = _int("%s.%s" % (what, k), s[k], 0, 0x7FFFFFFF)
    if "storing" in s:
        out["storing"] = bool(s["storing"])
    return out


def _acl(i, a):
    what = "acl[%d]" % i
    if not isinstance(a, dict):
        raise ConfigError("config: %s must be an object" % what)
    for k in a:
        if k not in ACL_KEYS:
            raise ConfigError("config: %s: unknown key %r" % (what, k))
    rights = a.get("acl") or {}
    if not isinstance(rights, dict):
        raise ConfigError("config: %s.acl maps Short Server IDs to access bits" % what)
    return {"object": _int(what + ".object", a.get("object"), 1, 65534),
            "instance": _int(what + ".instance", a.get("instance"), 0, 65535),
            "owner": _int(what + ".owner", a.get("owner"), 1, 65535),
            "acl": dict((_int(what + ".acl key", k, 0, 65534),
                         _int(what + ".acl value", v, 0, 31)) for k, v in rights.items())}


def from_dict(data):
    """Check a config dict (a board's config.json, or parse()'s merge) and
    return the normalized form: endpoint, servers (uri, host, port, ssid,
    lifetime, binding, oscore, pmin/pmax/storing when given), bootstrap,
    bind, state, log, poll_ms, deregister_ms, dedup_size, acl, board, repl,
    c2c ({"allow_nosec"} or None), follow (dict or None), events (bool or
    None: the default), and "board_config" (what goes to board.setup())."""
    lifetime = _int("--lifetime", data.get("lifetime", DEFAULT_LIFETIME), 1, 0x7FFFFFFF)
    servers = [_server(i, s, lifetime) for i, s in enumerate(_servers_of(data))]
    if len(servers) > MAX_SERVERS:
        raise ConfigError("config: at most %d servers" % MAX_SERVERS)
    ssids = [s["ssid"] for s in servers]
    if len(set(ssids)) != len(ssids):
        raise ConfigError("config: two servers with one ssid")
    boot = data.get("bootstrap")
    if boot is not None:
        if isinstance(boot, str):
            boot = {"uri": boot}
        if not isinstance(boot, dict):
            raise ConfigError("config: bootstrap is a URI or {\"uri\", \"oscore\"}")
        host, port = parse_uri("--bootstrap", boot.get("uri"))
        boot = {"uri": boot["uri"], "host": host, "port": port,
                "oscore": parse_oscore("bootstrap.oscore", boot["oscore"])
                if boot.get("oscore") else None}
    endpoint = data.get("endpoint")
    if endpoint is not None:
        if (not isinstance(endpoint, str) or not endpoint or len(endpoint) > 64
                or not all("!" <= c <= "~" and c not in "&?#/" for c in endpoint)):
            raise ConfigError("--endpoint: 1..64 printable characters, no spaces, & ? # /")
    bind = data.get("bind", "127.0.0.1:0")
    if isinstance(bind, list) and len(bind) == 2:
        bind = (str(bind[0]), _int("--bind port", bind[1], 0, 65535))
    else:
        bind = parse_hostport("--bind", bind)
    level = str(data.get("log", data.get("log_level", "info"))).lower()
    if level not in LEVELS:
        raise ConfigError("--log is one of %s" % ", ".join(LEVELS))
    state = data.get("state")
    if state is not None and (not isinstance(state, str) or not state):
        raise ConfigError("--state needs a directory")
    acl = data.get("acl") or []
    if not isinstance(acl, list):
        raise ConfigError("config: acl must be a list")
    board_config = dict((k, data[k]) for k in BOARD_KEYS if k in data)
    for key in ("temperature", "switch", "light"):
        _check_device(key, data.get(key))
    follow = _follow(data.get("follow"))
    c2c = _c2c(data.get("c2c"), follow)
    events = data.get("events")
    if events is not None and events is not True and events is not False:
        raise ConfigError("config: events is true or false")
    return {"endpoint": endpoint, "servers": servers, "bootstrap": boot,
            "bind": bind, "state": state, "log": level,
            "poll_ms": _int("config: poll_ms", data.get("poll_ms", 100), 1, 60000),
            "deregister_ms": _int("config: deregister_ms", data.get("deregister_ms", 5000),
                                  0, 600000),
            "dedup_size": None if data.get("dedup_size") is None else
            _int("config: dedup_size", data["dedup_size"], 1, 4096),
            "acl": [_acl(i, a) for i, a in enumerate(acl)],
            "board": data.get("board"), "repl": bool(data.get("repl", True)),
            "c2c": c2c, "follow": follow, "events": events,
            "board_config": board_config}


def _check_device(key, spec):
    specs = spec if key == "temperature" else [spec]
    if spec is None:
        return
    if key == "temperature" and not isinstance(spec, list):
        raise ConfigError("config: temperature must be a list of sensors")
    for s in specs:
        if s is not None and not (isinstance(s, dict) and isinstance(s.get("kind"), str)):
            raise ConfigError("config: %s entries need a \"kind\"" % key)
        if s is not None and "period_ms" in s:
            _int("config: %s period_ms" % key, s["period_ms"], 0, 86400000)


def _c2c(spec, follow):
    """{"allow_nosec": bool} or None from the "c2c" entry; "follow" needs it."""
    if spec is None and follow is not None:
        spec = True
    if spec is None or spec is False:
        if follow is not None:
            raise ConfigError("config: follow needs c2c")
        return None
    if spec is True:
        spec = {}
    if not isinstance(spec, dict):
        raise ConfigError("config: c2c is true, false or {\"allow_nosec\": BOOL}")
    for k in spec:
        if k != "allow_nosec":
            raise ConfigError("config: c2c: unknown key %r" % k)
    nosec = spec.get("allow_nosec", False)
    if nosec is not True and nosec is not False:
        raise ConfigError("config: c2c.allow_nosec is true or false")
    return {"allow_nosec": nosec}


def _resource_path(what, text):
    parts = text.split("/") if isinstance(text, str) else []
    if (len(parts) != 4 or parts[0] or not all(p.isdigit() and int(p) <= 65534
                                                  for p in parts[1:])):
        raise ConfigError("config: %s is a resource path /O/I/R" % what)
    return text


def _follow(spec):
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ConfigError("config: follow must be an object")
    for k in spec:
        if k not in FOLLOW_KEYS:
            raise ConfigError("config: follow: unknown key %r" % k)
    ep = spec.get("endpoint")
    if not isinstance(ep, str) or not ep:
        raise ConfigError("config: follow.endpoint names the peer")
    out = {"endpoint": ep,
           "path": _resource_path("follow.path", spec.get("path")),
           "target": _resource_path("follow.target", spec.get("target")),
           "address": spec.get("address"),
           "retry_ms": _int("config: follow.retry_ms", spec.get("retry_ms", 5000), 100,
                            3600000)}
    if out["address"] is not None:
        parse_uri("follow.address", out["address"])
    return out
