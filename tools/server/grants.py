"""What the C2C authorization service has provisioned, and fresh credentials.

Owns the server's records of client-to-client access (docs c2c-extension.md,
steps 5 and the lifecycle): no CoAP here, no key material kept.

- `NodeRecord` (one per endpoint name, kept across re-registrations): the
  OSCORE Sender/Recipient IDs the node holds (its server context's and every
  one we minted for it), the Short Client IDs used on it (never reused: a
  stale 11002 ACL entry must never name a new peer), the 11002 instances we
  manage there ({(O,) or (O, I): Acl}), the instance IDs we created (or
  tried to) until we see them deleted, and the server's Short Server ID on it.
- `Link`: one peer account pair between two nodes (on each: 11001 + 21 +
  11000 instances, joined by that node's Short Client ID for the other). One
  link per pair of nodes, shared by the grants in both directions: a node
  finds a peer's account by endpoint name, so two accounts for one peer
  would be ambiguous.
- `Grant`: requester -> host rights {(O,) or (O, I): bits} over a link; what
  `grants` lists and `revoke` removes.
- `Cleanup`: an instance on a node that must still be deleted (or an ACL
  re-written) because the node did not answer; retried when it next
  registers or updates.
- minting: Short Client IDs, OSCORE Sender/Recipient IDs unique among all
  IDs either node holds, and `KeyMaterial` (16-byte master secret, 8-byte
  salt, fresh ID context) that never prints itself.
- `book_to_dict` / `book_from_dict`: the records as JSON data, so that a
  restarted server still knows which IDs its clients hold and what it may
  have to revoke. Keys are not part of the records, so never in the file.
"""

MASTER_SECRET_LEN = 16
MASTER_SALT_LEN = 8
# The requester sends the kid context in its requests: 4 random bytes keep
# every grant's context distinct at a small cost per 802.15.4 frame.
ID_CONTEXT_LEN = 4
_RANDOM_TRIES = 64


class KeyMaterial:
    """Fresh key material for one grant. repr() shows nothing secret."""
    __slots__ = ("secret", "salt", "id_context")

    def __init__(self, rand):
        self.secret = bytes(rand(MASTER_SECRET_LEN))
        self.salt = bytes(rand(MASTER_SALT_LEN))
        self.id_context = bytes(rand(ID_CONTEXT_LEN))

    def __repr__(self):
        return "<KeyMaterial hidden>"


class Acl:
    """One 11002 instance on a host: the instance ID and its ACL {sid: bits}."""
    __slots__ = ("iid", "acl")

    def __init__(self, iid, acl):
        self.iid = iid
        self.acl = dict(acl)


class NodeRecord:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.ids = set()            # OSCORE Sender/Recipient IDs it holds
        self.sids = set()           # Short Client IDs ever used on it
        self.acls = {}              # key -> Acl (11002 instances we manage)
        self.ssid = None            # our Short Server ID on it, once learned
        self.iids = {}              # oid -> instance IDs we made (or tried to) there

    def note_context(self, ctx):
        """Remember the IDs of the server's OSCORE context with this node."""
        if ctx is not None and hasattr(ctx, "sender_id"):
            self.ids.add(bytes(ctx.sender_id))
            self.ids.add(bytes(ctx.recipient_id))


class Side:
    """One node's half of a link: its Short Client ID for the peer, the
    instances holding the account, the peer URI written into its 11000/0,
    and its Sender/Recipient IDs (its own view; not secret, never printed)."""
    __slots__ = ("endpoint", "sid", "iids", "uri", "sender_id", "recipient_id")

    def __init__(self, endpoint, sid, sender_id, recipient_id, uri=""):
        self.endpoint = endpoint
        self.sid = sid
        self.iids = {}              # oid (11001, 21, 11000) -> instance ID
        self.uri = uri
        self.sender_id = sender_id
        self.recipient_id = recipient_id

    def paths(self):
        """Instance paths to delete, 11000 first (it links to the 21)."""
        return [(oid, self.iids[oid]) for oid in (11000, 21, 11001) if oid in self.iids]


class Link:
    def __init__(self, a, b, created_ms, lifetime_s=0):
        self.sides = {a.endpoint: a, b.endpoint: b}
        self.created_ms = created_ms
        self.lifetime_s = lifetime_s

    @property
    def pair(self):
        return frozenset(self.sides)

    def side(self, endpoint):
        return self.sides[endpoint]

    def other(self, endpoint):
        for ep, side in self.sides.items():
            if ep != endpoint:
                return side
        raise KeyError(endpoint)

    def expires_ms(self):
        return None if not self.lifetime_s else self.created_ms + self.lifetime_s * 1000


class Grant:
    """requester -> host rights over `link`."""

    def __init__(self, gid, requester, host, rights, link, now_ms):
        self.id = gid
        self.requester = requester
        self.host = host
        self.rights = dict(rights)  # (O,) or (O, I) -> bits
        self.link = link
        self.created_ms = now_ms
        self.updated_ms = now_ms
        self.revoking = False

    def expires_ms(self):
        return self.link.expires_ms()

    def describe(self, now_ms):
        """One line: id, requester -> host, paths=bits, age (never keys)."""
        from tools.server.policy import bits_text, key_text
        paths = ",".join("%s=%s" % (key_text(k), bits_text(b))
                         for k, b in sorted(self.rights.items()))
        text = "%s %s -> %s %s age %s" % (self.id, self.requester, self.host, paths,
                                          age_text(now_ms - self.created_ms))
        end = self.expires_ms()
        if end is not None:
            text += " expires in %s" % age_text(max(0, end - now_ms))
        return text


class Cleanup:
    """What is left to do on a node: ("delete", path) an instance, or
    ("acl", key) make the 11002 instance of `key` match the record."""
    __slots__ = ("endpoint", "kind", "target", "iid")

    def __init__(self, endpoint, kind, target, iid=None):
        self.endpoint = endpoint
        self.kind = kind
        self.target = target
        self.iid = iid

    def describe(self):
        from tools.server.policy import key_text
        if self.kind == "delete":
            return "cleanup pending: delete %s on %s" % (key_text(self.target), self.endpoint)
        return "cleanup pending: 11002/%s (rights on %s) on %s" % (
            self.iid, key_text(self.target), self.endpoint)


def age_text(ms):
    s = max(0, int(ms // 1000))
    if s < 120:
        return "%ds" % s
    if s < 7200:
        return "%dm" % (s // 60)
    if s < 172800:
        return "%dh" % (s // 3600)
    return "%dd" % (s // 86400)


class GrantBook:
    """All records: nodes, links, grants, cleanups; and the minting."""

    def __init__(self):
        self.nodes = {}             # endpoint -> NodeRecord
        self.links = {}             # frozenset of two endpoints -> Link
        self.grants = {}            # id -> Grant
        self.cleanups = []
        self._next = 1

    def node(self, endpoint):
        rec = self.nodes.get(endpoint)
        if rec is None:
            rec = self.nodes[endpoint] = NodeRecord(endpoint)
        return rec

    def link(self, a, b):
        return self.links.get(frozenset((a, b)))

    def grant_for(self, requester, host):
        for g in self.grants.values():
            if g.requester == requester and g.host == host:
                return g
        return None

    def grants_on(self, link):
        return [g for g in self.grants.values() if g.link is link]

    def listing(self):
        return sorted(self.grants.values(), key=lambda g: int(g.id[1:]))

    def new_id(self):
        gid = "g%d" % self._next
        self._next += 1
        return gid

    # -- minting ------------------------------------------------------------------
    def mint_sid(self, endpoint):
        """A Short Client ID (1..65534) never used on `endpoint`, not its
        server's Short Server ID either (two namespaces, but nobody should
        have to tell them apart); reserved at once."""
        rec = self.node(endpoint)
        sid = 1
        while sid in rec.sids or sid == rec.ssid:
            sid += 1
            if sid > 65534:
                raise OverflowError("no Short Client ID left on %s" % endpoint)
        rec.sids.add(sid)
        return sid

    def mint_ids(self, a, b, rand):
        """(sender, recipient) as node `a` sees them (b sees them swapped):
        two distinct short IDs held by neither node; reserved on both."""
        taken = self.node(a).ids | self.node(b).ids
        first = _fresh_id(taken, rand)
        second = _fresh_id(taken | {first}, rand)
        for ep in (a, b):
            self.node(ep).ids.update((first, second))
        return first, second


def _fresh_id(taken, rand):
    """A random 1-byte ID not in `taken`, else the first free of all 1-byte
    IDs, else 2 bytes, and so on (up to the 7 bytes OSCORE allows)."""
    for length in range(1, 8):
        for _ in range(_RANDOM_TRIES):
            candidate = bytes(rand(length))
            if len(candidate) == length and candidate not in taken:
                return candidate
        if length <= 2:
            for n in range(256 ** length):
                candidate = n.to_bytes(length, "big")
                if candidate not in taken:
                    return candidate
    raise OverflowError("no OSCORE ID left")


# -- keeping the records across restarts (no key material is in them) ----------------------

def _key_out(key):
    return list(key)


def book_to_dict(book, now_ms, wall_s):
    """Plain JSON data of `book`; times as wall-clock seconds."""
    def wall(ms):
        return round(wall_s - (now_ms - ms) / 1000.0, 3)

    def side(s):
        return {"ep": s.endpoint, "sid": s.sid, "uri": s.uri,
                "iids": dict((str(o), i) for o, i in s.iids.items()),
                "sender": s.sender_id.hex(), "recipient": s.recipient_id.hex()}
    links = []
    index = {}
    for link in book.links.values():
        index[id(link)] = len(links)
        a, b = list(link.sides.values())
        links.append({"sides": [side(a), side(b)], "created": wall(link.created_ms),
                      "lifetime": link.lifetime_s})
    return {
        "version": 1,
        "next": book._next,
        "nodes": dict((ep, {"ids": sorted(i.hex() for i in rec.ids), "sids": sorted(rec.sids),
                            "ssid": rec.ssid,
                            "iids": dict((str(o), sorted(s)) for o, s in rec.iids.items()),
                            "acls": [[_key_out(k), a.iid, sorted(a.acl.items())]
                                     for k, a in sorted(rec.acls.items())]})
                      for ep, rec in book.nodes.items()),
        "links": links,
        "grants": [{"id": g.id, "requester": g.requester, "host": g.host,
                    "rights": [[_key_out(k), b] for k, b in sorted(g.rights.items())],
                    "link": index.get(id(g.link)), "created": wall(g.created_ms),
                    "updated": wall(g.updated_ms)}
                   for g in book.listing() if not g.revoking and id(g.link) in index],
        "cleanups": [{"ep": c.endpoint, "kind": c.kind, "target": _key_out(c.target),
                      "iid": c.iid} for c in book.cleanups],
    }


def book_from_dict(data, now_ms, wall_s):
    """A GrantBook from book_to_dict() data; ValueError when it is not one."""
    def ms(wall):
        return now_ms - int((wall_s - float(wall)) * 1000)

    try:
        if data.get("version") != 1:
            raise ValueError("unknown version")
        book = GrantBook()
        book._next = int(data["next"])
        for ep, n in data["nodes"].items():
            rec = book.node(ep)
            rec.ids = set(bytes.fromhex(i) for i in n["ids"])
            rec.sids = set(int(s) for s in n["sids"])
            rec.ssid = n["ssid"]
            rec.iids = dict((int(o), set(s)) for o, s in n["iids"].items())
            for key, iid, acl in n["acls"]:
                rec.acls[tuple(key)] = Acl(iid, dict((int(s), int(b)) for s, b in acl))
        links = []
        for item in data["links"]:
            sides = []
            for s in item["sides"]:
                side = Side(s["ep"], int(s["sid"]), bytes.fromhex(s["sender"]),
                            bytes.fromhex(s["recipient"]), s["uri"])
                side.iids = dict((int(o), int(i)) for o, i in s["iids"].items())
                sides.append(side)
            link = Link(sides[0], sides[1], ms(item["created"]), int(item["lifetime"]))
            book.links[link.pair] = link
            links.append(link)
        for g in data["grants"]:
            grant = Grant(g["id"], g["requester"], g["host"],
                          dict((tuple(k), int(b)) for k, b in g["rights"]),
                          links[g["link"]], ms(g["created"]))
            grant.updated_ms = ms(g["updated"])
            book.grants[grant.id] = grant
        for c in data["cleanups"]:
            book.cleanups.append(Cleanup(c["ep"], c["kind"], tuple(c["target"]), c["iid"]))
        return book
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
        raise ValueError("not a grants file (%s)" % type(e).__name__)
