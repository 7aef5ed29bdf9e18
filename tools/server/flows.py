"""The provisioning flows of the C2C authorization service (authz.py).

Owns what the server does on the clients for a grant, a revocation, a
cleanup and an address change, as generator flows run by
tools/server/provision.py (`Run`), and how a grant that succeeded becomes
records (`commit`):
- grant: learn our Short Server ID on the host (Read /1, once per
  registration), then host and requester side by side: on each the 11001,
  21 and 11000 of the account for the other; then on the host the 11002
  rights (one instance per object (instance), shared by every peer; a Write
  of its ACL when it exists) -- and, when a re-grant replaces an account,
  the old Short Client ID's entries moved to the new one on both sides.
  Without `c`: the host's 11002 rights only, for the existing account.
- revoke: the host's account first (it stops the peer at once), its ACL
  entries, then the requester's account; an account stays while the pair
  still has a grant the other way. Forward only: what a client does not do
  now becomes a cleanup.
- cleanup: the deletions (or ACL rewrites) a client missed.
- URI: a moved node's new address into its peers' 11000/0.
Creates name their instance (the lowest free in the registration and in
our records) so that a lost answer still says what to delete, except 21 on
a client that takes TLV: its server contexts' 21 instances are not in its
registration, so the client picks there. `Flows` is the base class of
`Authz`, whose `book`, `server`, `policy`, `rand`, `log` it uses.
"""
from coap.numbers import NOT_FOUND, LWM2M_TLV

from tools.server.grants import KeyMaterial, Link, Side, Grant, Acl, Cleanup
from tools.server.policy import rights_text
from tools.server.provision import Op, Refuse, delete_created, together
from tools.server.registry import peer_text

OBJECT_ITSELF = 65535               # 11002 resource 1 for rights on the object (Create)
SECURITY_MODE_NOSEC = 3             # 11000/2: NoSec, protected by OSCORE through 17


def uri_of(reg):
    """coap://host:port of a registration's address."""
    return "coap://" + peer_text(reg.peer)


class _Staged:
    """What a grant flow did, applied to the records when it succeeds."""

    def __init__(self):
        self.sides = None           # (host Side, requester Side) of a new link
        self.lifetime = 0
        self.acls = []              # (endpoint, key, 11002 iid, acl)
        self.rights = {}


class Flows:
    """The flows (generators of provision.Op) and the commit of a grant;
    mixed into Authz, which queues and runs them one at a time."""

    def _grant_flow(self, job):
        R, H = job.requester, job.host
        book = self.book
        registry = self.server.registry
        reg_r, reg_h = registry.by_endpoint(R), registry.by_endpoint(H)
        if reg_r is None or reg_h is None:
            raise Refuse("%s is no longer registered" % (R if reg_r is None else H))
        rn, hn = book.node(R), book.node(H)
        rn.note_context(reg_r.security)
        hn.note_context(reg_h.security)
        old = book.link(R, H)
        existing = book.grant_for(R, H)
        if existing is not None and existing.revoking:
            existing = None
        rights = dict(existing.rights) if existing is not None else {}
        for key, bits in job.rights.items():
            rights[key] = rights.get(key, 0) | bits
        st = _Staged()
        st.rights = rights
        if not job.credentials:
            if old is None:
                raise Refuse("no account between %s and %s" % (R, H))
            yield from self._short_server_id(H)
            yield from self._acls(H, old.side(H).sid, None, rights, st)
            return st
        st.lifetime = self.policy.lifetime(R, H) if job.check_policy else 0
        h_sender, h_recipient = book.mint_ids(H, R, self.rand)
        side_h = Side(H, None, h_sender, h_recipient, uri_of(reg_r))   # sid: once the
        side_r = Side(R, book.mint_sid(R), h_recipient, h_sender, uri_of(reg_h))  # SSID is known
        st.sides = (side_h, side_r)
        keys = KeyMaterial(self.rand)
        reverse = book.grant_for(H, R)
        moves = reverse.rights if (old is not None and reverse is not None
                                   and not reverse.revoking) else {}
        # both clients at once, each one's steps in order, each going on as
        # soon as its own answer is in
        yield from together(
            self._host_side(side_h, R, keys, st, reg_h, old, rights),
            self._requester_side(side_r, H, keys, st, reg_r, old, moves))
        return st

    def _host_side(self, side, peer, keys, st, reg, old, rights):
        yield from self._short_server_id(side.endpoint)
        side.sid = self.book.mint_sid(side.endpoint)
        yield from self._account(side, peer, keys, st.lifetime, reg)
        yield from self._acls(side.endpoint, side.sid,
                              None if old is None else old.side(side.endpoint).sid, rights, st)

    def _requester_side(self, side, peer, keys, st, reg, old, moves):
        yield from self._account(side, peer, keys, st.lifetime, reg)
        if moves:                   # re-keyed: the host's own rights on us follow
            yield from self._acls(side.endpoint, side.sid, old.side(side.endpoint).sid,
                                  moves, st)

    def _short_server_id(self, ep):
        """Learn our Short Server ID on `ep` (Owner of its 11002 instances)."""
        rec = self.book.node(ep)
        if self.short_server_id is not None:
            rec.ssid = self.short_server_id
        elif rec.ssid is None:
            op = yield Op(ep, "read", (1,), must=False, label="Short Server ID")
            rec.ssid = _short_server_id(op) or self.default_ssid

    def _account(self, side, peer, keys, lifetime, reg):
        """Create the 11001, 21 and 11000 instances of `side`'s account for
        `peer` on side.endpoint."""
        ep = side.endpoint
        tlv = _speaks_tlv(reg)
        op = yield self._create(ep, 11001, {0: side.sid, 1: lifetime, 6: False, 7: "U", 9: peer},
                                tlv, reg, "account")
        side.iids[11001] = _made(op)
        values = {0: keys.secret, 1: side.sender_id, 2: side.recipient_id, 5: keys.salt,
                  6: keys.id_context}
        op = yield self._create(ep, 21, values, tlv, reg, "OSCORE context")
        side.iids[21] = _made(op)
        op = yield self._create(ep, 11000, {0: side.uri, 2: SECURITY_MODE_NOSEC, 3: b"", 4: b"",
                                            5: b"", 10: side.sid, 17: (21, side.iids[21])},
                                tlv, reg, "peer security")
        side.iids[11000] = _made(op)

    def _create(self, ep, oid, values, tlv, reg, label):
        """A Create naming its instance (so that even a lost answer says
        what to delete), except a 21 on a client that takes TLV: the 21
        instances a client holds for its servers are not in its
        registration, so it picks the ID itself there."""
        iid = None if (oid == 21 and tlv) else self._free_iid(ep, oid, reg)
        check = _read_back(values, _IDENTITY.get(oid, ())) if oid in _IDENTITY else None
        return Op(ep, "create", (oid,), values, iid=iid, undo=delete_created, label=label,
                  check=check)

    def _observe(self, op):
        """Every operation's outcome: keep track of the instances we made."""
        if op.kind == "create" and op.location is not None:
            self.book.node(op.endpoint).iids.setdefault(op.path[0], set()).add(op.location[1])
        elif op.kind == "delete" and op.ok and len(op.path) == 2:
            self.book.node(op.endpoint).iids.get(op.path[0], set()).discard(op.path[1])

    def _acls(self, ep, sid, old_sid, rights, st):
        """Give `sid` the bits of `rights` in the 11002 instances of `ep`
        (taking over the entries of `old_sid`)."""
        rec = self.book.node(ep)
        staged = dict((k, (iid, acl)) for e, k, iid, acl in st.acls if e == ep)
        keys = set(rights)
        if old_sid is not None:
            keys.update(k for k, a in rec.acls.items() if old_sid in a.acl)
        reg = self.server.registry.by_endpoint(ep)
        for key in sorted(keys):
            if key in staged:
                iid, current = staged[key]
            else:
                entry = rec.acls.get(key)
                iid, current = (entry.iid, dict(entry.acl)) if entry else (None, {})
            desired = dict(current)
            bits = desired.pop(old_sid, 0) if old_sid is not None else 0
            bits |= rights.get(key, 0)
            if not bits:
                continue
            desired[sid] = bits | desired.get(sid, 0)
            if iid is None:
                values = {0: key[0], 1: key[1] if len(key) == 2 else OBJECT_ITSELF,
                          2: desired, 3: rec.ssid if rec.ssid is not None else self.default_ssid}
                op = yield self._create(ep, 11002, values, _speaks_tlv(reg), reg, "rights")
                iid = _made(op)
            elif desired != current:
                yield Op(ep, "write", (11002, iid, 2), desired, label="rights",
                         undo=_restore(ep, iid, current))
            else:
                continue
            st.acls.append((ep, key, iid, desired))

    def _revoke_flow(self, job):
        """Forward only: the records change first, then the clients follow;
        what a client does not do now becomes a cleanup."""
        g = job.grant
        book = self.book
        book.grants.pop(g.id, None)
        link = g.link
        failures = []
        drop_link = not book.grants_on(link) and book.links.get(link.pair) is link
        if drop_link:
            del book.links[link.pair]
        host_side, req_side = link.side(g.host), link.side(g.requester)
        if drop_link:                   # the host's account first: it stops the peer at once
            yield from self._delete_account(host_side, failures)
        rec = book.node(g.host)
        for key in sorted(g.rights):
            entry = rec.acls.get(key)
            if entry is None or host_side.sid not in entry.acl:
                continue
            del entry.acl[host_side.sid]
            if entry.acl:
                op = yield Op(g.host, "write", (11002, entry.iid, 2), dict(entry.acl),
                              must=False, label="rights")
                if op.result is not None and op.result.code == NOT_FOUND:
                    rec.acls.pop(key, None)         # the host dropped it already
                    continue
            else:
                del rec.acls[key]
                op = yield Op(g.host, "delete", (11002, entry.iid), must=False)
            if not op.ok:
                failures.append("%s: %s" % (op.describe(), op.outcome()))
                book.cleanups.append(Cleanup(g.host, "acl", key, entry.iid))
        if drop_link:
            yield from self._delete_account(req_side, failures)
        self.log.info("grant %s revoked (%s -> %s)%s", g.id, g.requester, g.host,
                      "; pending: " + "; ".join(failures) if failures else "")
        return failures

    def _delete_account(self, side, failures):
        for path in side.paths():
            op = yield Op(side.endpoint, "delete", path, must=False)
            if not op.ok:
                failures.append("%s: %s" % (op.describe(), op.outcome()))
                self.book.cleanups.append(Cleanup(side.endpoint, "delete", path))

    def _cleanup_flow(self, job):
        book = self.book
        failures = []
        for item in [c for c in book.cleanups if c.endpoint == job.endpoint]:
            if item.kind == "delete":
                op = yield Op(item.endpoint, "delete", item.target, must=False)
            else:
                entry = book.node(item.endpoint).acls.get(item.target)
                if entry is None or entry.iid != item.iid:
                    op = yield Op(item.endpoint, "delete", (11002, item.iid), must=False)
                else:
                    op = yield Op(item.endpoint, "write", (11002, item.iid, 2),
                                  dict(entry.acl), must=False)
            if op.ok or (op.result is not None and op.result.code == NOT_FOUND):
                if item in book.cleanups:
                    book.cleanups.remove(item)
            else:
                failures.append("%s: %s" % (op.describe(), op.outcome()))
                if op.result is None or op.result.code is None:
                    break                   # it does not answer: later
        return failures

    def _uri_flow(self, job):
        """Write the moved node's new URI into its peers' 11000/0."""
        reg = self.server.registry.by_endpoint(job.host)
        link = self.book.link(job.endpoint, job.host)
        if reg is None or link is None:
            return []
        side = link.side(job.endpoint)
        uri = uri_of(reg)
        op = yield Op(job.endpoint, "write", (11000, side.iids[11000], 0), uri, must=False)
        if op.ok:
            side.uri = uri
            return []
        return ["%s: %s" % (op.describe(), op.outcome())]

    # -- commit ------------------------------------------------------------------------------
    def _commit(self, job, st):
        book = self.book
        now = self.server.now()
        for ep, key, iid, acl in st.acls:
            book.node(ep).acls[key] = Acl(iid, acl)
        old = book.link(job.requester, job.host)
        link = old
        if st.sides is not None:
            link = Link(st.sides[0], st.sides[1], now, st.lifetime)
            book.links[link.pair] = link
            if old is not None:
                for g in book.grants_on(old):
                    g.link = link
                for side in old.sides.values():
                    for path in side.paths():
                        book.cleanups.append(Cleanup(side.endpoint, "delete", path))
                for ep in old.sides:
                    self._queue_cleanup(ep)
        grant = book.grant_for(job.requester, job.host)
        if grant is None or grant.revoking:
            grant = Grant(book.new_id(), job.requester, job.host, st.rights, link, now)
            book.grants[grant.id] = grant
        grant.rights = dict(st.rights)
        grant.link = link
        grant.updated_ms = now
        self.log.info("grant %s: %s -> %s %s%s", grant.id, job.requester, job.host,
                      rights_text(grant.rights), " (new account)" if st.sides else "")
        return grant

    def _free_iid(self, ep, oid, reg):
        """The lowest instance ID of `oid` that `ep` did not register and we
        did not make (or try to make) there; reserved at once. 21 starts at
        1: a client's own server context usually sits at 21/0."""
        used = self.book.node(ep).iids.setdefault(oid, set())
        registered = ()
        if reg is not None and reg.objects is not None:
            registered = reg.objects.objects.get(oid, {}).get("instances", ())
        iid = 1 if oid == 21 else 0
        while iid in used or iid in registered:
            iid += 1
        if iid >= 65535:
            raise Refuse("no free instance ID of object %d on %s" % (oid, ep))
        used.add(iid)
        return iid


# Resources that tell an instance we created from anybody else's, for the
# read-back of a Create whose first answer was lost (21 cannot be read).
_IDENTITY = {11001: (0, 9), 11000: (10, 17), 11002: (0, 1, 2, 3)}


def _read_back(values, rids):
    """check(result) of a Read of the instance: True when it holds `values`
    at `rids` (so the lost answer was to our Create)."""
    def check(result):
        got = {}
        for rec in result.records or ():
            path, value = rec[0], rec[1]
            if len(path) == 3:
                got[path[2]] = value
            elif len(path) == 4:
                got.setdefault(path[2], {})[path[3]] = value
        for rid in rids:
            want, have = values.get(rid), got.get(rid)
            if isinstance(want, tuple):
                have = tuple(have) if have is not None else None
            if have != want:
                return False
        return True
    return check


def _made(op):
    """The instance ID a successful Create made; Refuse when the client did
    not say (no Location-Path): nothing to build on, nor to delete."""
    loc = op.location
    if loc is None:
        raise Refuse("%s: no Location-Path in the answer" % op.describe())
    return loc[1]


def _restore(ep, iid, acl):
    def undo(op):
        return Op(ep, "write", (11002, iid, 2), dict(acl), label="undo")
    return undo


def _speaks_tlv(reg):
    """Whether a Create may leave the instance ID to the client: only TLV
    carries resources without their instance (LwM2M 1.0 clients all do)."""
    return reg is None or not reg.formats or LWM2M_TLV in reg.formats


def _short_server_id(op):
    """Our Short Server ID from a Read of /1 that shows exactly one Server."""
    if not op.ok or not op.result.records:
        return None
    found = set(v for p, v, *_ in op.result.records
                if len(p) == 3 and p[0] == 1 and p[2] == 0 and isinstance(v, int))
    return found.pop() if len(found) == 1 else None
