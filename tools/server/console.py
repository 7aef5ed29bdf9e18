"""The server's command console: one line in, a few lines out.

Owns: parsing console commands, turning them into calls of the API
(`Server.device(ep).read(...)` etc., waited on with the server's driver), and
rendering results, events and notifications as text. Nothing protocol-related
lives here.

Commands (EP = endpoint name, PATH = /3/0/0, FORMAT = text, opaque, tlv,
senml-json, senml-cbor, lwm2m-cbor or a number):
  list                              registered clients
  read EP PATH [FORMAT]             Read (FORMAT becomes the Accept)
  write EP PATH VALUE [FORMAT] [partial]
                                    Write; VALUE is one value, or JSON:
                                    {"rid": value} for an instance,
                                    {"riid": value} for a multiple resource
  exec EP PATH [ARGS]               Execute (ARGS: the rest of the line)
  create EP PATH JSON [FORMAT]      Create; PATH /O or /O/I; JSON {"rid": value}
  delete EP PATH                    Delete
  discover EP PATH [DEPTH]          Discover
  attr EP PATH NAME=VALUE...        Write-Attributes (pmin pmax gt lt st epmin
                                    epmax; NAME alone removes it)
  observe EP PATH [FORMAT]          Observe; notifications are printed
  cancel EP PATH                    Cancel Observation
  wait EP [SECONDS]                 wait until EP is registered
  sleep SECONDS                     serve for a while (scripts)
  grants                            client-to-client grants (needs --policy):
                                    ID requester -> host paths=bits age
  grant REQUESTER HOST PATH=BITS... [nocreds]
                                    grant as /ac would (policy applies);
                                    BITS: letters of RWEDC; nocreds: rights
                                    only, for a pair that has an account
  revoke ID                         revoke a grant: rights and accounts go
  cleanup [EP]                      retry deletions a client missed
  policy [reload]                   show (or re-read) the policy rules
  help, quit
Values follow the resource type from the object definitions: numbers,
true/false, 3:0 for an object link, 0x0102 (hex) for opaque. Keys and
security contexts are never printed: a registration shows only nosec/oscore,
a grant only its paths and bits.
"""
import json
import shlex

from tools.server import formats
from tools.server.operations import NotRegistered, parse_path, path_text, ATTRIBUTES

CODE_NAMES = {65: "Created", 66: "Deleted", 67: "Valid", 68: "Changed", 69: "Content",
              95: "Continue", 128: "Bad Request", 129: "Unauthorized", 130: "Bad Option",
              131: "Forbidden", 132: "Not Found", 133: "Method Not Allowed",
              134: "Not Acceptable", 136: "Request Entity Incomplete",
              140: "Precondition Failed", 141: "Request Entity Too Large",
              143: "Unsupported Content-Format", 160: "Internal Server Error",
              161: "Not Implemented", 163: "Service Unavailable", 164: "Gateway Timeout"}


class CommandError(ValueError):
    """A command line that cannot be carried out (printed as one line)."""


def show_value(value):
    """A value as the console prints it."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex() if value else "0x"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, tuple) and len(value) == 2:
        return "%d:%d" % value
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def record_line(record):
    """"  /3303/0/5700 = 21.5" for a (path, value) or (path, value, time) record."""
    line = "  %s = %s" % (path_text(record[0]), show_value(record[1]))
    if len(record) > 2 and record[2] is not None:
        line += "  @%s" % record[2]
    return line


def render(result):
    """Lines for one Result."""
    if result is None:
        return ["error: no answer yet"]
    if result.code is None:
        return ["error: %s" % result.error]
    lines = ["%s %s" % (result.code_text, CODE_NAMES.get(result.code, ""))]
    if result.location is not None:
        lines.append("  location %s" % path_text(result.location))
    if result.links is not None:
        lines.extend("  " + str(link) for link in result.links)
    elif result.records is not None:
        lines.extend(record_line(record) for record in result.records)
    elif result.payload:
        if result.decode_error:
            lines.append("  (%s)" % result.decode_error)
        text = None
        try:
            text = result.payload.decode()
            if not all(c >= " " or c in "\t\r\n" for c in text):
                text = None
        except UnicodeError:
            pass
        lines.append("  " + (text if text is not None else "0x" + result.payload.hex()))
    return lines


def parse_scalar(text, type_name):
    """A console value for a resource of XML type `type_name` (None: guess)."""
    t = type_name
    try:
        if t in ("Integer", "Unsigned Integer", "Time"):
            return int(text, 0)
        if t == "Float":
            return float(text)
        if t == "Boolean":
            low = text.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
            raise ValueError
        if t == "Opaque":
            return _hex(text) if text.lower().startswith("0x") else text.encode()
        if t == "Objlnk":
            oid, _, iid = text.partition(":")
            return (int(oid), int(iid))
        if t in ("String", "Corelnk"):
            return text
    except ValueError:
        raise CommandError("%r is not a valid %s" % (text, t))
    # unknown resource: go by what it looks like
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low.startswith("0x"):
        try:
            return _hex(text)
        except ValueError:
            return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _hex(text):
    return bytes.fromhex(text[2:])


class Console:
    """`server` with a driver attached; `out(line)` prints; `timeout_ms`
    bounds each wait (None: until the CoAP layer gives up)."""

    def __init__(self, server, out=print, timeout_ms=None):
        self.server = server
        self.out = out
        self.timeout_ms = timeout_ms
        self.errors = 0
        self.done = False
        server.on_event(self._on_event)

    # -- events ------------------------------------------------------------------
    def _on_event(self, kind, reg, info):
        if kind in ("registered", "updated"):
            self.out("%s %s" % (kind, reg.describe()))
        elif kind == "send":
            self.out("send %s" % reg.endpoint)
            for record in info.get("records") or ():
                self.out(record_line(record))
        else:
            self.out("%s %s id=%s" % (kind, reg.endpoint, reg.id))

    # -- commands ------------------------------------------------------------------
    def execute(self, line):
        """Run one command line; False once `quit` was given."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        cmd, _, rest = line.partition(" ")
        handler = getattr(self, "cmd_" + cmd.lower().replace("-", "_"), None)
        if handler is None:
            self.errors += 1
            self.out("error: unknown command %r (try help)" % cmd)
            return True
        try:
            handler(rest.strip())
        except (CommandError, NotRegistered, KeyError, ValueError) as e:
            self.errors += 1
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            self.out("error: %s" % msg)
        return not self.done

    def _finish(self, pending):
        result = self.server.wait(pending, self.timeout_ms)
        if result is None or result.code is None:
            self.errors += 1
        for line in render(result):
            self.out(line)
        return result

    def _args(self, rest, low, high, usage):
        try:
            args = shlex.split(rest)
        except ValueError as e:
            raise CommandError(str(e))
        if not low <= len(args) <= high:
            raise CommandError("usage: " + usage)
        return args

    def _device(self, ep):
        return self.server.device(ep)

    def cmd_help(self, rest):
        for line in __doc__.split("Commands", 1)[1].split("\n")[1:]:
            if line.startswith("  "):
                self.out(line)

    def cmd_quit(self, rest):
        self.done = True

    cmd_exit = cmd_quit

    def cmd_list(self, rest):
        regs = list(self.server.registry)
        if not regs:
            self.out("(no clients registered)")
        for reg in regs:
            self.out(reg.describe())
            for path, obs in sorted(reg.observations.items()):
                self.out("  observing %s (%d notifications)" % (path_text(path), obs.count))

    def cmd_read(self, rest):
        args = self._args(rest, 2, 3, "read EP PATH [FORMAT]")
        accept = formats.parse_name(args[2]) if len(args) == 3 else None
        self._finish(self._device(args[0]).read(args[1], accept=accept))

    def cmd_discover(self, rest):
        args = self._args(rest, 2, 3, "discover EP PATH [DEPTH]")
        depth = None
        if len(args) == 3:
            if not args[2].isdigit():
                raise CommandError("DEPTH is 0..3")
            depth = int(args[2])
        self._finish(self._device(args[0]).discover(args[1], depth=depth))

    def cmd_delete(self, rest):
        args = self._args(rest, 2, 2, "delete EP PATH")
        self._finish(self._device(args[0]).delete(args[1]))

    def cmd_exec(self, rest):
        parts = rest.split(None, 2)
        if len(parts) < 2:
            raise CommandError("usage: exec EP PATH [ARGS]")
        args = parts[2] if len(parts) == 3 else ""
        self._finish(self._device(parts[0]).execute(parts[1], args))

    cmd_execute = cmd_exec

    def cmd_write(self, rest):
        parts = rest.split(None, 2)
        if len(parts) < 3:
            raise CommandError("usage: write EP PATH VALUE [FORMAT] [partial]")
        ep, path_arg, tail = parts
        path = parse_path(path_arg)
        value, extra = self._value_and_rest(tail, path)
        partial = False
        if extra and extra[-1].lower() == "partial":
            partial = True
            extra = extra[:-1]
        if len(extra) > 1:
            raise CommandError("usage: write EP PATH VALUE [FORMAT] [partial]")
        cf = formats.parse_name(extra[0]) if extra else None
        self._finish(self._device(ep).write(path, value, content_format=cf,
                                            replace=not partial))

    def cmd_create(self, rest):
        parts = rest.split(None, 2)
        if len(parts) < 3:
            raise CommandError("usage: create EP PATH JSON [FORMAT]")
        ep, path_arg, tail = parts
        path = parse_path(path_arg)
        if len(path) not in (1, 2):
            raise CommandError("create takes /O or /O/I")
        data, extra = self._json(tail)
        if not isinstance(data, dict):
            raise CommandError("create needs a JSON object {\"rid\": value}")
        if len(extra) > 1:
            raise CommandError("usage: create EP PATH JSON [FORMAT]")
        cf = formats.parse_name(extra[0]) if extra else None
        iid = path[1] if len(path) == 2 else None
        values = self._typed_dict(path[:1] + ((iid if iid is not None else 0),), data)
        self._finish(self._device(ep).create(path[:1], values, iid=iid, content_format=cf))

    def cmd_attr(self, rest):
        args = self._args(rest, 3, 2 + len(ATTRIBUTES), "attr EP PATH NAME=VALUE...")
        attrs = {}
        for item in args[2:]:
            name, eq, text = item.partition("=")
            if name not in ATTRIBUTES:
                raise CommandError("unknown attribute %r" % name)
            if not eq or text == "":
                attrs[name] = None
                continue
            try:
                attrs[name] = int(text) if name in ("pmin", "pmax", "epmin", "epmax") \
                    else float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:
                raise CommandError("%s needs a number" % name)
        self._finish(self._device(args[0]).write_attributes(args[1], **attrs))

    def cmd_observe(self, rest):
        args = self._args(rest, 2, 3, "observe EP PATH [FORMAT]")
        accept = formats.parse_name(args[2]) if len(args) == 3 else None
        ep = args[0]

        def on_notify(result):
            head = "notify %s %s" % (ep, path_text(result.path))
            lines = render(result)
            self.out("%s %s" % (head, lines[0]))
            for line in lines[1:]:
                self.out(line)
        self._finish(self._device(ep).observe(args[1], on_notify=on_notify, accept=accept))

    def cmd_cancel(self, rest):
        args = self._args(rest, 2, 2, "cancel EP PATH")
        pending = self._device(args[0]).cancel_observation(args[1])
        if pending is None:
            self.out("cancelled")
        else:
            self._finish(pending)

    def cmd_wait(self, rest):
        args = self._args(rest, 1, 2, "wait EP [SECONDS]")
        seconds = self._seconds(args[1]) if len(args) == 2 else 30.0
        reg = self.server.registry
        if self.server.driver.run(lambda: reg.by_endpoint(args[0]) is not None,
                                  int(seconds * 1000)):
            self.out("%s is registered" % args[0])
        else:
            raise CommandError("%s did not register within %gs" % (args[0], seconds))

    def cmd_sleep(self, rest):
        args = self._args(rest, 1, 1, "sleep SECONDS")
        self.server.driver.run(None, int(self._seconds(args[0]) * 1000))

    # -- client-to-client authorization -----------------------------------------------
    def _authz(self):
        authz = getattr(self.server, "authz", None)
        if authz is None:
            raise CommandError("no authorization service: start the server with --policy FILE")
        return authz

    def _outcome(self, pending, done_text):
        outcome = self.server.wait(pending, self.timeout_ms)
        if outcome is None:
            self.errors += 1
            self.out("error: no answer yet")
            return None
        if not outcome.ok:
            self.errors += 1
        self.out(done_text(outcome))
        return outcome

    def cmd_grants(self, rest):
        self._args(rest, 0, 0, "grants")
        lines = self._authz().lines()
        for line in lines or ["(no grants)"]:
            self.out(line)

    def cmd_grant(self, rest):
        args = self._args(rest, 3, 3 + 32, "grant REQUESTER HOST PATH=BITS... [nocreds]")
        creds = True
        if args[-1] == "nocreds":
            creds = False
            args = args[:-1]
        rights = {}
        for item in args[2:]:
            path, eq, bits = item.partition("=")
            if not eq:
                raise CommandError("usage: grant REQUESTER HOST PATH=BITS... [nocreds]")
            rights[path] = bits
        if not rights:
            raise CommandError("usage: grant REQUESTER HOST PATH=BITS... [nocreds]")
        pending = self._authz().grant(args[0], args[1], rights, credentials=creds)

        def text(o):
            code = "%d.%02d" % (o.code >> 5, o.code & 31) if o.code is not None else "-"
            if o.ok:
                return "%s %s %s" % (code, CODE_NAMES.get(o.code, ""), o.grant.id)
            return "%s %s: %s" % (code, CODE_NAMES.get(o.code, ""), o.reason)
        self._outcome(pending, text)

    def cmd_revoke(self, rest):
        args = self._args(rest, 1, 1, "revoke ID")
        pending = self._authz().revoke(args[0])
        self._outcome(pending, lambda o: "revoked %s%s" % (
            args[0], "" if o.ok else "; pending: " + (o.reason or "")))

    def cmd_cleanup(self, rest):
        args = self._args(rest, 0, 1, "cleanup [EP]")
        pending = self._authz().retry_cleanups(args[0] if args else None)
        self._outcome(pending, lambda o: "cleaned up" if o.ok else
                      "still pending: " + (o.reason or ""))

    def cmd_policy(self, rest):
        args = self._args(rest, 0, 1, "policy [reload]")
        authz = self._authz()
        if args:
            if args[0] != "reload":
                raise CommandError("usage: policy [reload]")
            if authz.policy.source is None:
                raise CommandError("the policy did not come from a file")
            from tools.server.policy import PolicyError
            try:
                authz.load_policy(authz.policy.source)
            except PolicyError as e:
                raise CommandError("policy not reloaded: %s" % e)
        for line in authz.policy.describe():
            self.out(line)

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _seconds(text):
        try:
            value = float(text)
        except ValueError:
            raise CommandError("%r is not a number of seconds" % text)
        if not 0 <= value <= 86400:
            raise CommandError("seconds out of range")
        return value

    @staticmethod
    def _json(text):
        """(JSON value at the start of text, the words after it)."""
        try:
            value, end = json.JSONDecoder().raw_decode(text)
        except ValueError as e:
            raise CommandError("bad JSON: %s" % e)
        return value, text[end:].split()

    def _value_and_rest(self, tail, path):
        objects = self.server.objects
        if tail[:1] in ("{", "["):
            data, extra = self._json(tail)
            if not isinstance(data, dict):
                raise CommandError("JSON values are objects: {\"id\": value}")
            if len(path) not in (2, 3):
                raise CommandError("JSON values go to an instance or a resource")
            return self._typed_dict(path, data), extra
        try:
            words = shlex.split(tail)
        except ValueError as e:
            raise CommandError(str(e))
        if not words:
            raise CommandError("no value")
        return parse_scalar(words[0], objects.type_name(path)), words[1:]

    def _typed_dict(self, path, data):
        """JSON {"id": value} -> {id: value} with each value made to fit its
        resource type (strings to object links, hex strings to opaque...)."""
        objects = self.server.objects
        out = {}
        for key, value in data.items():
            if not str(key).isdigit():
                raise CommandError("bad ID %r" % key)
            sub = path + (int(key),)
            if isinstance(value, dict):
                out[int(key)] = self._typed_dict(sub, value)
                continue
            out[int(key)] = self._fit(value, objects.type_name(sub if len(sub) >= 3 else sub))
        return out

    @staticmethod
    def _fit(value, type_name):
        if isinstance(value, str) and type_name not in (None, "String", "Corelnk"):
            return parse_scalar(value, type_name)
        if type_name == "Float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, (list, dict)) or value is None:
            raise CommandError("values are numbers, strings or booleans")
        return value
