"""The authorization policy of the C2C `/ac` service (docs c2c-extension.md,
step 4, **Ours**): which requester endpoints may get which access bits on
which object paths of which hosts. Deny by default.

Owns: loading a policy file (JSON, or TOML for a `.toml` file), checking it
strictly (a typo is an error, never a silently wider or narrower policy),
and answering `allowed(requester, host, key)` / `refusal(requester, host,
rights)`. No CoAP, no state besides the rules.

File format (JSON shown; TOML spells the same keys, `[[rules]]` tables):

    {"rules": [
      {"requester": "light",          # endpoint name, or a glob: light-*, *
       "host": "switch",              # endpoint name or glob
       "allow": {"/3342/0": "R"},     # path -> bits
       "lifetime": 0}                 # optional: 11001 Lifetime (s), 0 = none
    ]}

- paths: "/O" (the object itself and every instance of it), "/O/I" (that
  instance only) or "*" (any object of the host). Objects 0, 1, 2, 21,
  11000, 11001 and 11002 are never grantable (a peer could widen its own
  rights or read keys); naming one is an error and "*" leaves them out.
- bits: letters of "RWEDC" (R = Read/Observe/Discover/Write-Attributes,
  W = Write, E = Execute, D = Delete, C = Create; any order, any case) or
  the number 1..31 (R=1, W=2, E=4, D=8, C=16).
- a request is granted only when every path it asks for is covered, with
  every bit it asks for, by the rules whose requester and host match
  (their bits add up); otherwise it is refused as a whole.
- lifetime: the smallest non-zero lifetime among the matching rules (0 when
  none sets one) is written to the 11001 Lifetime of both new accounts.
Globs are fnmatch patterns, case-sensitive (`*`, `?`, `[abc]`).
"""
import fnmatch
import json
import os

BITS = (("R", 1), ("W", 2), ("E", 4), ("D", 8), ("C", 16))
ALL_BITS = 31
# Objects whose rights only the server may hold: granting any of them would
# let a peer read key material or change its own (or others') access.
RESERVED = (0, 1, 2, 21, 11000, 11001, 11002)
_RULE_KEYS = ("requester", "host", "allow", "lifetime", "comment")
_TOP_KEYS = ("rules", "version", "comment")
_GLOB = "*?["


class PolicyError(ValueError):
    """A policy file that cannot be used; the message is one line."""


def bits_text(bits):
    """'RW' for 3; '-' for 0."""
    return "".join(letter for letter, bit in BITS if bits & bit) or "-"


def parse_bits(value, where="bits"):
    """Bits from "RW"-style letters or an int 1..31; PolicyError otherwise."""
    if isinstance(value, bool):
        raise PolicyError("%s: %r is not access bits" % (where, value))
    if isinstance(value, int):
        if not 1 <= value <= ALL_BITS:
            raise PolicyError("%s: %d is not 1..31" % (where, value))
        return value
    if isinstance(value, str) and value:
        bits = 0
        letters = dict(BITS)
        for c in value.upper():
            if c not in letters:
                raise PolicyError("%s: %r is not one of R W E D C" % (where, c))
            bits |= letters[c]
        return bits
    raise PolicyError("%s: %r is not access bits (letters RWEDC or 1..31)" % (where, value))


def parse_path(text, where="path"):
    """'*' -> None (any), '/O' -> (O,), '/O/I' -> (O, I); PolicyError."""
    if text == "*":
        return None
    parts = text.strip("/").split("/") if isinstance(text, str) else []
    if (not isinstance(text, str) or not text.startswith("/") or not 1 <= len(parts) <= 2
            or not all(p.isdigit() and len(p) <= 5 for p in parts)):
        raise PolicyError("%s: %r is not /O, /O/I or *" % (where, text))
    ids = tuple(int(p) for p in parts)
    if ids[0] > 65534 or (len(ids) == 2 and ids[1] > 65534):
        raise PolicyError("%s: %r: IDs are 0..65534" % (where, text))
    if ids[0] in RESERVED:
        raise PolicyError("%s: object %d can never be granted to a peer" % (where, ids[0]))
    return ids


def key_text(key):
    """'/3342/0' for (3342, 0), '/3342' for (3342,)."""
    return "/" + "/".join(str(i) for i in key)


def rights_text(rights):
    """'/3342/0=R,/3342/1=RW' for {(3342, 0): 1, (3342, 1): 3}."""
    return ",".join("%s=%s" % (key_text(k), bits_text(b)) for k, b in sorted(rights.items()))


def _name(value, where):
    if not isinstance(value, str) or not value or len(value) > 255:
        raise PolicyError("%s: needs an endpoint name or glob" % where)
    return value


class Rule:
    __slots__ = ("requester", "host", "allow", "lifetime", "index")

    def __init__(self, requester, host, allow, lifetime=0, index=0):
        self.requester = requester
        self.host = host
        self.allow = allow          # [(path tuple or None for "*", bits)]
        self.lifetime = lifetime
        self.index = index

    def matches(self, requester, host):
        return _match(self.requester, requester) and _match(self.host, host)

    def bits_for(self, key):
        """Bits this rule gives on `key` ((O,) or (O, I))."""
        bits = 0
        for path, b in self.allow:
            if path is None:
                if key[0] not in RESERVED:
                    bits |= b
            elif path == key or (len(path) == 1 and path[0] == key[0]):
                bits |= b
        return bits

    def describe(self):
        allow = ",".join("%s=%s" % ("*" if p is None else key_text(p), bits_text(b))
                         for p, b in self.allow)
        text = "rule %d: %s -> %s %s" % (self.index, self.requester, self.host, allow)
        if self.lifetime:
            text += " lifetime=%ds" % self.lifetime
        return text


def _match(pattern, name):
    if any(c in pattern for c in _GLOB):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern == name


class Policy:
    """The rules; an empty policy refuses everything."""

    def __init__(self, rules=(), source=None):
        self.rules = list(rules)
        self.source = source

    @classmethod
    def load(cls, path):
        """From a JSON file (TOML when the name ends in .toml). PolicyError
        with a one-line reason for anything wrong."""
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise PolicyError("cannot read %s: %s" % (path, e.strerror or e))
        if path.endswith(".toml"):
            try:
                import tomllib
            except ImportError:
                raise PolicyError("TOML needs Python 3.11 (tomllib); use JSON")
            try:
                data = tomllib.loads(raw.decode("utf-8"))
            except (UnicodeError, tomllib.TOMLDecodeError) as e:
                raise PolicyError("%s: bad TOML: %s" % (path, _one_line(e)))
        else:
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeError, ValueError) as e:
                raise PolicyError("%s: bad JSON: %s" % (path, _one_line(e)))
        policy = cls.from_data(data)
        policy.source = os.path.abspath(path)
        return policy

    @classmethod
    def from_data(cls, data):
        if not isinstance(data, dict):
            raise PolicyError("the policy is an object with a list of rules")
        for key in data:
            if key not in _TOP_KEYS:
                raise PolicyError("unknown key %r (expected rules)" % key)
        if data.get("version", 1) != 1:
            raise PolicyError("unsupported policy version %r" % data.get("version"))
        rules = data.get("rules")
        if not isinstance(rules, list):
            raise PolicyError("'rules' must be a list")
        return cls([_rule(item, i + 1) for i, item in enumerate(rules)])

    # -- decisions ----------------------------------------------------------------
    def matching(self, requester, host):
        return [r for r in self.rules if r.matches(requester, host)]

    def allowed(self, requester, host, key):
        """The bits `requester` may get on `key` of `host` (0: none)."""
        bits = 0
        for rule in self.matching(requester, host):
            bits |= rule.bits_for(key)
        return bits

    def refusal(self, requester, host, rights):
        """None when every {key: bits} of `rights` is allowed; otherwise a
        one-line reason (for the log)."""
        if requester == host:
            return "a client cannot be granted rights on itself"
        for key, bits in sorted(rights.items()):
            if key[0] in RESERVED:
                return "%s is never granted to a peer" % key_text(key)
            allowed = self.allowed(requester, host, key)
            if bits & ~allowed:
                return "policy allows %s %s on %s of %s, asked %s" % (
                    requester, bits_text(allowed) if allowed else "nothing",
                    key_text(key), host, bits_text(bits))
        return None

    def lifetime(self, requester, host):
        values = [r.lifetime for r in self.matching(requester, host) if r.lifetime]
        return min(values) if values else 0

    def describe(self):
        if not self.rules:
            return ["(no rules: every request is refused)"]
        return [r.describe() for r in self.rules]


def _rule(item, index):
    where = "rule %d" % index
    if not isinstance(item, dict):
        raise PolicyError("%s: must be an object" % where)
    for key in item:
        if key not in _RULE_KEYS:
            raise PolicyError("%s: unknown key %r" % (where, key))
    for key in ("requester", "host", "allow"):
        if key not in item:
            raise PolicyError("%s: missing %r" % (where, key))
    requester = _name(item["requester"], where + " requester")
    host = _name(item["host"], where + " host")
    allow = item["allow"]
    if not isinstance(allow, dict) or not allow:
        raise PolicyError("%s: 'allow' maps paths to bits, e.g. {\"/3342/0\": \"R\"}" % where)
    pairs = []
    for path, bits in allow.items():
        pairs.append((parse_path(path, "%s path" % where),
                      parse_bits(bits, "%s %s" % (where, path))))
    lifetime = item.get("lifetime", 0)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 0 <= lifetime < 2 ** 31:
        raise PolicyError("%s: lifetime is whole seconds >= 0" % where)
    return Rule(requester, host, pairs, lifetime, index)


def _one_line(e):
    return " ".join(str(e).split())
