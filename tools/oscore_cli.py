"""--oscore and --state for the host tools (tools/coap.py, tools/coapd.py).

- `parse_oscore(text)`: MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID[:ID_CONTEXT],
  each hex, any but the secret may be empty (an empty ID_CONTEXT means none). Raises
  ValueError with a one-line reason that never repeats key material.
- `FileStore(path)`: the `store` of a SecurityContext, a small JSON object
  {context key: persisted sequence number limit} rewritten (temporary file + rename)
  on every save, so successive runs never reuse a nonce. Keys are never written. One
  process per state file at a time: two running at once could both take the same
  numbers.
- `default_state(name)`: ~/.cache/mpy-lwm2m-c2c/NAME.
- `security_context(spec, path)`: the SecurityContext for a parsed spec, its sequence
  number kept in the state file at `path`.

Runs on the unix-port MicroPython, whose `os` has no `os.path` and no `os.makedirs`.
"""
import binascii
import json
import os

CACHE = "/.cache/mpy-lwm2m-c2c/"
_ENOENT = 2
_FIELDS = ("MASTER_SECRET", "MASTER_SALT", "SENDER_ID", "RECIPIENT_ID", "ID_CONTEXT")
USAGE = "--oscore needs MASTER_SECRET:MASTER_SALT:SENDER_ID:RECIPIENT_ID[:ID_CONTEXT] (hex)"


def parse_oscore(text):
    """-> {"secret", "salt", "sid", "rid", "idctx"} (bytes; idctx None when absent)."""
    parts = text.split(":")
    if len(parts) not in (4, 5):
        raise ValueError(USAGE)
    values = []
    for name, part in zip(_FIELDS, parts):
        try:
            values.append(binascii.unhexlify(part))
        except (ValueError, TypeError):
            raise ValueError("--oscore: %s is not hex" % name)
    secret, salt, sid, rid = values[:4]
    idctx = values[4] if len(values) == 5 and values[4] else None
    if not secret:
        raise ValueError("--oscore: MASTER_SECRET is empty")
    if len(sid) > 7 or len(rid) > 7:
        raise ValueError("--oscore: SENDER_ID and RECIPIENT_ID have at most 7 bytes")
    if sid == rid:
        raise ValueError("--oscore: SENDER_ID and RECIPIENT_ID must differ")
    if idctx is not None and len(idctx) > 255:
        raise ValueError("--oscore: ID_CONTEXT has at most 255 bytes")
    return {"secret": secret, "salt": salt, "sid": sid, "rid": rid, "idctx": idctx}


def default_state(name):
    home = os.getenv("HOME")
    if not home:
        raise ValueError("HOME is not set: give --state FILE")
    return home.rstrip("/") + CACHE + name


def dirname(path):
    head = path.rsplit("/", 1)[0] if "/" in path else "."
    return head or "/"


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0o170000 == 0o040000
    except OSError:
        return False


def make_dirs(path):
    """mkdir -p."""
    current = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        current += part
        if not _is_dir(current):
            os.mkdir(current)
        current += "/"


class FileStore:
    def __init__(self, path):
        self.path = path
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            if e.args[0] != _ENOENT:
                raise ValueError("cannot read state file %s" % path)
            data = {}
        except ValueError:
            raise ValueError("state file %s is not valid JSON" % path)
        if not isinstance(data, dict):
            raise ValueError("state file %s is not a JSON object" % path)
        self.data = data

    def load(self, key):
        return self.data.get(key)

    def save(self, key, value):
        self.data[key] = value
        make_dirs(dirname(self.path))
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(self.data))
            if hasattr(os, "fsync"):         # CPython; MicroPython's close() writes through
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, self.path)


def security_context(spec, path):
    from oscore.context import SecurityContext
    return SecurityContext(spec["secret"], spec["sid"], spec["rid"], spec["salt"],
                           spec["idctx"], store=FileStore(path))
