"""Persistence for the engine: a key/value store of JSON-able values, and the
conversion of object instances to and from JSON-able data.

    store.save(key, value)     # value: None, bool, int, float, str, list, dict
    store.load(key)            # -> value, or None when unset or unreadable
    store.delete(key)

`FileStore(directory)` keeps one small JSON file per key (`<key>.json`) and
writes atomically: a temporary file is written, then renamed over the old
one. FAT (ESP32/RP2 boards) cannot rename over an existing file: the old file
is then removed first, and `load()` falls back to the temporary file when
the main one is missing, so a power cut between the two steps loses nothing.
`MemoryStore` is the same in RAM for tests (values are copied through JSON,
so a test sees exactly what a file would hold).

Keys are made of letters, digits, '.', '-' and '_' (others are escaped).
MicroPython has no os.path/os.makedirs: the tiny helpers below do that work.

The store holds key material (the OSCORE Master Secrets of objects 21 and
11000). Under CPython its files are created 0o600 and the directories
`makedirs()` creates 0o700 (an existing directory is left as it is).
MicroPython has no os.open/os.chmod/umask and creates them as the process
umask says: on the unix port, start the node under `umask 077` (a board's
FAT or littlefs has no permissions).
"""
import json
import os

_MODES = hasattr(os, "open")        # CPython: files and directories get modes
from lwm2m.model import MULTIPLE, type_of
from lwm2m.formats import types


def _safe(key):
    out = []
    for c in key:
        if c.isalpha() or c.isdigit() or c in ".-_":
            out.append(c)
        else:
            out.append("%%%02x" % ord(c))
    return "".join(out)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def makedirs(path):
    """mkdir -p for MicroPython and CPython alike (new directories 0o700 on
    CPython); returns `path`."""
    built = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        built = built + part if built in ("", "/") else built + "/" + part
        if not exists(built):
            try:
                if _MODES:
                    os.mkdir(built, 0o700)
                else:
                    os.mkdir(built)
            except OSError:
                if not exists(built):
                    raise
    return path


def _write(path, text):
    """Create or truncate `path` with `text`: 0o600 on CPython (fchmod too,
    for a file left by an interrupted save)."""
    if not _MODES:
        with open(path, "w") as f:
            f.write(text)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class MemoryStore:
    def __init__(self):
        self.data = {}
        self.saves = 0

    def save(self, key, value):
        self.data[key] = json.dumps(value)
        self.saves += 1

    def load(self, key):
        text = self.data.get(key)
        return None if text is None else json.loads(text)

    def delete(self, key):
        self.data.pop(key, None)

    def keys(self):
        return sorted(self.data)


class FileStore:
    def __init__(self, directory):
        self.directory = directory.rstrip("/") or "/"
        makedirs(self.directory)
        self.saves = 0

    def _path(self, key):
        return "%s/%s.json" % (self.directory, _safe(key))

    def save(self, key, value):
        path = self._path(key)
        tmp = path + ".tmp"
        _write(tmp, json.dumps(value))
        try:
            os.rename(tmp, path)
        except OSError:                     # FAT: the target must not exist
            try:
                os.remove(path)
            except OSError:
                pass
            os.rename(tmp, path)
        self.saves += 1

    def load(self, key):
        path = self._path(key)
        for p in (path, path + ".tmp"):
            try:
                with open(p) as f:
                    return json.loads(f.read())
            except (OSError, ValueError):
                continue
        return None

    def delete(self, key):
        path = self._path(key)
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass

    def keys(self):
        out = []
        for name in os.listdir(self.directory):
            if name.endswith(".json"):
                out.append(name[:-5])
        return sorted(out)


# -- object instances <-> JSON ----------------------------------------------------

def _to_json(t, v):
    if t == types.OPAQUE:
        return bytes(v).hex()
    if t == types.OBJLNK:
        return [v[0], v[1]]
    return v


def _from_json(t, v):
    if t == types.OPAQUE:
        return bytes.fromhex(v)
    if t == types.OBJLNK:
        return (v[0], v[1])
    if t == types.FLOAT and isinstance(v, int):
        return float(v)
    return v


def pack_instances(obj):
    """{"iid": {"rid": value}} of an object, typed by its table; resources
    the table does not define are not kept."""
    out = {}
    for iid, inst in obj.instances.items():
        d = {}
        for rid, value in inst.items():
            flags = obj.flags(rid)
            if flags is None:
                continue
            t = type_of(flags)
            if value is None:
                d[str(rid)] = None
            elif flags & MULTIPLE:
                d[str(rid)] = dict((str(k), _to_json(t, x)) for k, x in value.items())
            else:
                d[str(rid)] = _to_json(t, value)
        out[str(iid)] = d
    return out


def unpack_instances(obj, data):
    """The instances dict of `obj` from `pack_instances()` output."""
    out = {}
    for iid, d in data.items():
        inst = {}
        for rid, value in d.items():
            rid = int(rid)
            flags = obj.flags(rid)
            if flags is None:
                continue
            t = type_of(flags)
            if value is None:
                inst[rid] = None
            elif flags & MULTIPLE:
                inst[rid] = dict((int(k), _from_json(t, x)) for k, x in value.items())
            else:
                inst[rid] = _from_json(t, value)
        out[int(iid)] = inst
    return out
