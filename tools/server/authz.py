"""The C2C third-party authorization service of the reference server: `/ac`.

Owns the server side of docs c2c-extension.md steps 3-5 and the lifecycle:
- the `/ac` resource (`</ac>;rt="lwm2m.auth"`): `POST /ac?ep=<host>[&c]`,
  Content-Format 60, payload a CBOR map {[O] or [O, I]: bits}. The requester
  is the registration the request comes from (its OSCORE context, else its
  address). Answers, piggybacked: 4.00 when the requester or the host is
  not registered, or the query / payload is malformed (bits outside 1..31,
  keys that are not [O] / [O, I]); 4.15 for a Content-Format other than 60;
  4.03 when the policy refuses, a path is not among the host's registered
  objects, a path is in an object no peer may ever get (0, 1, 2, 21,
  11000-11002), credentials would travel over an unprotected server session,
  or rights alone are asked (no `c`) for a pair without an account; 5.03
  (Max-Age 5) when too many grants are queued. Otherwise the request is
  accepted with an empty ACK and answered as a separate response (CON,
  protected with the request's OSCORE context) once provisioning is over:
  2.01 Created, or 4.03 after a roll-back. A separate response because the
  provisioning is a dozen round trips to two clients, far beyond what an
  ACK may wait for; the engine is sans-IO and cannot block in a handler.
- provisioning (tools/server/flows.py) with Create/Write on each client's
  own secured server session, both clients at once: on each the 11001 + 21
  + 11000 of its account for the other (fresh master secret, salt and ID
  context; Sender/Recipient IDs unique among all the node holds; the host's
  URI into the requester's 11000/0), then the host's 11002 rights keyed by
  the requester's Short Client ID, Owner = our Short Server ID. Without `c`
  only the 11002 rights of an existing account; `c` again for a pair with
  an account replaces it. Every step that succeeded is undone on a failure.
- grants: `grants()`, `revoke(id)`, `grant(...)` (the same flow from the
  API); expiry through the 11001 Lifetime the policy sets; instances that
  could not be deleted are retried when their node registers or updates; a
  node whose address changes gets its peers' 11000/0 rewritten; the records
  (no keys) optionally kept in a JSON file across restarts.
Every flow runs one at a time (they share the hosts' 11002 instances).
Key material exists only inside the flow that writes it; nothing here logs
or prints it.
"""
import json
import logging
import os
import time
from collections import deque

import cbor
from coap.numbers import (POST, CON, NON, CREATED, BAD_REQUEST, FORBIDDEN, NOT_FOUND,
                          METHOD_NOT_ALLOWED, UNSUPPORTED_CONTENT_FORMAT,
                          SERVICE_UNAVAILABLE, MAX_AGE, BLOCK1, CBOR)
from coap.endpoint import SEPARATE
from coap.server import reply

from tools.server.flows import Flows, OBJECT_ITSELF, uri_of
from tools.server.grants import GrantBook, Cleanup, book_to_dict, book_from_dict
from tools.server.policy import Policy, RESERVED, key_text, rights_text, ALL_BITS
from tools.server.provision import Run
from tools.server.results import Pending

MAX_RIGHTS = 32                     # paths in one /ac request
LOG = logging.getLogger("tools.server.authz")


class AcError(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code


def parse_query(items):
    """(host endpoint, credentials wanted) from the Uri-Query items."""
    host = None
    creds = False
    for item in items:
        name, eq, value = item.partition("=")
        if name == "ep" and eq and value and host is None:
            host = value
        elif name == "c" and not eq and not creds:
            creds = True
        else:
            raise AcError(BAD_REQUEST, "bad query item %r" % item)
    if host is None:
        raise AcError(BAD_REQUEST, "ep=<host> missing")
    return host, creds


def parse_rights(payload):
    """{(O,) or (O, I): bits} from the CBOR grant map; AcError 4.00."""
    try:
        data = cbor.loads(payload)
    except ValueError:
        raise AcError(BAD_REQUEST, "payload is not CBOR")
    if not isinstance(data, dict) or not data:
        raise AcError(BAD_REQUEST, "payload is not a non-empty CBOR map")
    if len(data) > MAX_RIGHTS:
        raise AcError(BAD_REQUEST, "more than %d paths" % MAX_RIGHTS)
    rights = {}
    for key, bits in data.items():
        if (not isinstance(key, tuple) or not 1 <= len(key) <= 2
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= 65535
                           for i in key)
                or key[0] == 65535):
            raise AcError(BAD_REQUEST, "key %.40r is not [O] or [O, I]" % (key,))
        if len(key) == 2 and key[1] == OBJECT_ITSELF:
            key = key[:1]
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= ALL_BITS:
            raise AcError(BAD_REQUEST, "bits of %s are not 1..31" % key_text(key))
        if key in rights:
            raise AcError(BAD_REQUEST, "%s given twice" % key_text(key))
        rights[key] = bits
    return rights


class Outcome:
    """What a grant / revoke / cleanup came to: `ok`, the CoAP `code` of a
    grant's answer, the `grant`, a one-line `reason`, and `pending` -- the
    cleanups left for later (instances that could not be deleted)."""

    def __init__(self, ok, code=None, grant=None, reason=None, pending=()):
        self.ok = ok
        self.code = code
        self.grant = grant
        self.reason = reason
        self.pending = list(pending)

    def __repr__(self):
        return "<Outcome %s %s>" % ("ok" if self.ok else "failed", self.reason or "")


class Decision:
    """One answer of /ac (for tests and the log): requester, host, code, reason."""
    __slots__ = ("requester", "host", "code", "reason", "t_ms")

    def __init__(self, requester, host, code, reason, t_ms):
        self.requester = requester
        self.host = host
        self.code = code
        self.reason = reason
        self.t_ms = t_ms

    def __repr__(self):
        return "<Decision %s->%s %d.%02d %s>" % (self.requester, self.host, self.code >> 5,
                                               self.code & 31, self.reason)


class _Waiter:
    __slots__ = ("request", "peer")

    def __init__(self, request, peer):
        self.request = request
        self.peer = peer


class _Job:
    def __init__(self, kind, requester=None, host=None, rights=None, credentials=False,
                 grant=None, endpoint=None, check_policy=True):
        self.kind = kind
        self.requester = requester
        self.host = host
        self.rights = rights or {}
        self.credentials = credentials
        self.grant = grant
        self.endpoint = endpoint
        self.check_policy = check_policy
        self.waiters = []
        self.pendings = []

    @property
    def key(self):
        return (self.kind, self.requester, self.host, frozenset(self.rights.items()),
                self.credentials, self.endpoint, None if self.grant is None else self.grant.id)


class Authz(Flows):
    """Install the /ac service on `server`. `policy`: a Policy (default: deny
    everything). `rand(n)`: random bytes for keys and IDs. `allow_insecure`:
    also send credentials to clients registered without OSCORE (labs only).
    `short_server_id`: our Short Server ID on every client (Access Control
    Owner of the 11002 instances); None reads it from each host's /1 (one
    Server instance visible -> its resource 0), else `default_ssid`.
    `records`: a JSON file the records are loaded from and saved to after
    every change (no keys in it; mode 0600); None keeps them in memory only.
    ValueError when that file exists but cannot be read."""

    def __init__(self, server, policy=None, rand=os.urandom, allow_insecure=False,
                 short_server_id=None, default_ssid=1, max_jobs=32, log=None, records=None):
        self.server = server
        self.policy = policy if policy is not None else Policy()
        self.rand = rand
        self.allow_insecure = allow_insecure
        self.short_server_id = short_server_id
        self.default_ssid = default_ssid
        self.max_jobs = max_jobs
        self.log = log or LOG
        self.records = records
        self.book = self._load() if records is not None else GrantBook()
        self.jobs = deque()
        self.running = None
        self.decisions = deque(maxlen=200)
        self._pumping = False
        server.add_route("ac", self._ac, 'rt="lwm2m.auth"')
        server.authz = self
        server.on_event(self._on_event)

    # -- API -----------------------------------------------------------------------------
    def grants(self):
        """The live grants, oldest first (expired ones are revoked first)."""
        self.expire()
        return [g for g in self.book.listing() if not g.revoking]

    def lines(self):
        """What the console prints for `grants`: one line per grant and per
        pending cleanup. Never keys."""
        now = self.server.now()
        out = [g.describe(now) for g in self.grants()]
        out.extend(c.describe() for c in self.book.cleanups)
        return out

    def grant(self, requester, host, rights, credentials=True, check_policy=True,
              callback=None):
        """The /ac flow started by the operator: `rights` {(O,) or (O, I) or
        "/O/I": bits or "RW"}. Returns a Pending whose result is an Outcome
        (code 2.01 / 4.00 / 4.03). check_policy=False skips the policy (the
        other checks stay)."""
        from tools.server.policy import parse_bits, parse_path
        parsed = {}
        for key, bits in rights.items():
            k = parse_path(key) if isinstance(key, str) else tuple(key)
            if k is None:
                raise ValueError("a grant names its paths")
            parsed[k] = parse_bits(bits) if isinstance(bits, str) else bits
        pending = Pending(self.server, "grant", requester, (), callback)
        try:
            self._validate(requester, host, parsed, credentials, check_policy)
        except AcError as e:
            self._decide(requester, host, e.code, str(e))
            pending.complete(Outcome(False, e.code, reason=str(e)))
            return pending
        job = _Job("grant", requester, host, parsed, credentials, check_policy=check_policy)
        job.pendings.append(pending)
        self._enqueue(job, pending)
        return pending

    def revoke(self, grant_id, callback=None):
        """Revoke a grant: its 11002 rights on the host go, and the accounts
        (11000/11001/21) on both sides unless the pair still has a grant the
        other way. KeyError for an unknown ID. Pending -> Outcome."""
        grant = self.book.grants.get(grant_id)
        if grant is None or grant.revoking:
            raise KeyError("no grant %s" % grant_id)
        pending = Pending(self.server, "revoke", grant.host, (), callback)
        self._revoke(grant, pending)
        return pending

    def retry_cleanups(self, endpoint=None, callback=None):
        """Try the pending cleanups again (of one node, or all)."""
        eps = sorted(set(c.endpoint for c in self.book.cleanups
                         if endpoint is None or c.endpoint == endpoint))
        pending = Pending(self.server, "cleanup", endpoint, (), callback)
        if not eps:
            pending.complete(Outcome(True, reason="nothing to clean up"))
            return pending
        for i, ep in enumerate(eps):
            job = _Job("cleanup", endpoint=ep)
            if i == len(eps) - 1:
                job.pendings.append(pending)
            self._enqueue(job, pending if i == len(eps) - 1 else None)
        return pending

    def load_policy(self, path):
        """Replace the policy from a file (PolicyError leaves the old one).
        Grants already made stay; revoke those the new policy refuses."""
        self.policy = Policy.load(path)
        return self.policy

    def expire(self):
        """Revoke the grants whose accounts reached their 11001 Lifetime
        (the clients drop the accounts themselves; we tidy up the rights)."""
        now = self.server.now()
        for g in list(self.book.listing()):
            end = g.expires_ms()
            if end is not None and now >= end and not g.revoking:
                self.log.info("grant %s expired", g.id)
                self._revoke(g, None)

    # -- /ac ---------------------------------------------------------------------------------
    def _ac(self, request, peer, now_ms, security, path):
        if len(path) != 1:
            return reply(NOT_FOUND)
        if request.code != POST:
            return reply(METHOD_NOT_ALLOWED)
        self.expire()
        reg = self.server.sender(peer, security)
        requester = None if reg is None else reg.endpoint
        host = None
        try:
            if reg is None:
                raise AcError(BAD_REQUEST, "requester not registered")
            host, creds = parse_query(request.query())
            cf = request.content_format
            if cf is None:
                raise AcError(BAD_REQUEST, "no Content-Format")
            if cf != CBOR:
                raise AcError(UNSUPPORTED_CONTENT_FORMAT, "Content-Format %d, not 60" % cf)
            rights = parse_rights(bytes(request.payload))
            self._validate(requester, host, rights, creds, True)
        except AcError as e:
            self._decide(requester, host, e.code, str(e))
            return reply(e.code)
        job = _Job("grant", requester, host, rights, creds)
        waiter = _Waiter(request, peer)
        for other in ([self.running] if self.running else []) + list(self.jobs):
            if other.key == job.key and other.waiters:
                other.waiters.append(waiter)        # the same request again: one flow
                return SEPARATE
        job.waiters.append(waiter)
        if not self._enqueue(job, None):
            return reply(SERVICE_UNAVAILABLE).add(MAX_AGE, 5)
        return SEPARATE

    def _validate(self, requester, host, rights, creds, check_policy):
        """AcError for everything decided before provisioning."""
        registry = self.server.registry
        req = registry.by_endpoint(requester)
        if req is None:
            raise AcError(BAD_REQUEST, "requester %s not registered" % requester)
        hreg = registry.by_endpoint(host)
        if hreg is None:
            raise AcError(BAD_REQUEST, "host %s not registered" % host)
        if hreg is req:
            raise AcError(BAD_REQUEST, "requester and host are the same client")
        for key in sorted(rights):
            if key[0] in RESERVED:
                raise AcError(FORBIDDEN, "%s is never granted to a peer" % key_text(key))
            if not hreg.has(*key):
                raise AcError(FORBIDDEN, "%s is not registered by %s" % (key_text(key), host))
        if check_policy:
            why = self.policy.refusal(requester, host, rights)
            if why is not None:
                raise AcError(FORBIDDEN, why)
        if creds:
            if not self.allow_insecure and (req.security is None or hreg.security is None):
                raise AcError(FORBIDDEN, "credentials are only sent over OSCORE sessions")
        elif self.book.link(requester, host) is None:
            raise AcError(FORBIDDEN, "no account between %s and %s: ask with c" % (requester, host))

    def _decide(self, requester, host, code, reason):
        self.decisions.append(Decision(requester, host, code, reason, self.server.now()))
        if host is not None and not host.isprintable():
            host = repr(host)           # a name from the query: one log line, always
        self.log.info("ac %s -> %s: %d.%02d %s", requester, host, code >> 5, code & 31, reason)

    def _answer(self, job, code):
        for waiter in job.waiters:
            request = waiter.request
            response = reply(code)
            if request.has(BLOCK1):
                self.server.uploads.echo(response, request)
            try:
                security = getattr(request, "security", None)
                if security is not None:
                    response = security.protect(response)
                response.mtype = NON if request.mtype == NON else CON
                self.server.endpoint.send_response(waiter.peer, request, response,
                                                   self.server.now())
            except Exception as e:          # table full, sequence numbers exhausted
                self.log.warning("ac answer to %s not sent: %s", job.requester,
                                 type(e).__name__)
        job.waiters = []
        if self.server.wake is not None:
            self.server.wake()

    # -- the job queue ------------------------------------------------------------------------
    def _enqueue(self, job, pending):
        if len(self.jobs) >= self.max_jobs:
            if pending is not None:
                pending.complete(Outcome(False, SERVICE_UNAVAILABLE, reason="busy"))
            return False
        self.jobs.append(job)
        self.server.defer(self._pump)
        return True

    def _pump(self):
        if self._pumping:
            return
        self._pumping = True
        try:
            while self.running is None and self.jobs:
                job = self.running = self.jobs.popleft()
                self._start(job)
        finally:
            self._pumping = False

    def _start(self, job):
        if job.kind == "grant":
            flow, rollback = self._grant_flow(job), True
        elif job.kind == "revoke":
            flow, rollback = self._revoke_flow(job), False
        elif job.kind == "cleanup":
            flow, rollback = self._cleanup_flow(job), False
        else:
            flow, rollback = self._uri_flow(job), False

        def done(ok, value, leftovers):
            try:
                self._done(job, ok, value, leftovers)
            finally:
                if self.running is job:
                    self.running = None
                self.server.defer(self._pump)
        Run(self.server, flow, done, rollback, self.log, self._observe).start()

    def _done(self, job, ok, value, leftovers):
        for op in leftovers:            # roll-back steps that did not happen
            self._leftover(op)
        if job.kind == "grant":
            if ok:
                grant = self._commit(job, value)
                self._decide(job.requester, job.host, CREATED, "granted %s (%s)" % (
                    grant.id, rights_text(job.rights)))
                self._answer(job, CREATED)
                outcome = Outcome(True, CREATED, grant)
            else:
                self._decide(job.requester, job.host, FORBIDDEN, value)
                self._answer(job, FORBIDDEN)
                outcome = Outcome(False, FORBIDDEN, reason=value, pending=self.book.cleanups)
        else:
            if isinstance(value, str):          # the flow itself failed
                ok, value = False, [value]
            outcome = Outcome(ok and not value, grant=job.grant,
                              reason="; ".join(value) if value else None,
                              pending=self.book.cleanups)
        self._save()
        for pending in job.pendings:
            pending.complete(outcome)

    # -- records file ---------------------------------------------------------------------
    def _load(self):
        try:
            with open(self.records) as f:
                data = json.load(f)
        except FileNotFoundError:
            return GrantBook()
        except (OSError, ValueError) as e:
            raise ValueError("cannot read %s: %s" % (self.records, getattr(e, "strerror", None)
                                                     or "not JSON"))
        try:
            return book_from_dict(data, self.server.now(), time.time())
        except ValueError as e:
            raise ValueError("%s: %s" % (self.records, e))

    def _save(self):
        if self.records is None:
            return
        data = book_to_dict(self.book, self.server.now(), time.time())
        tmp = self.records + ".tmp"
        try:
            folder = os.path.dirname(os.path.abspath(self.records))
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.records)
        except OSError as e:
            self.log.error("grant records not saved to %s: %s", self.records, e.strerror or e)

    def _leftover(self, op):
        if op.kind == "delete":
            self.book.cleanups.append(Cleanup(op.endpoint, "delete", op.path))
        elif op.kind == "write" and op.path[0] == 11002:
            key = self._acl_key(op.endpoint, op.path[1])
            if key is not None:
                self.book.cleanups.append(Cleanup(op.endpoint, "acl", key, op.path[1]))

    def _acl_key(self, endpoint, iid):
        for key, acl in self.book.node(endpoint).acls.items():
            if acl.iid == iid:
                return key
        return None

    # -- events ------------------------------------------------------------------------------
    def _on_event(self, kind, reg, info):
        if kind not in ("registered", "updated"):
            return
        rec = self.book.nodes.get(reg.endpoint)
        if rec is None:
            return
        rec.note_context(reg.security)
        if kind == "registered" and self.short_server_id is None:
            rec.ssid = None                 # learn it again from the new registration
        if any(c.endpoint == reg.endpoint for c in self.book.cleanups):
            self._queue_once(_Job("cleanup", endpoint=reg.endpoint))
        uri = uri_of(reg)
        for link in list(self.book.links.values()):
            if reg.endpoint in link.sides:
                other = link.other(reg.endpoint)
                if other.uri != uri and 11000 in other.iids:
                    self._queue_once(_Job("uri", endpoint=other.endpoint, host=reg.endpoint))

    def _queue_cleanup(self, endpoint):
        self._queue_once(_Job("cleanup", endpoint=endpoint))

    def _queue_once(self, job):
        for other in list(self.jobs):
            if other.key == job.key:
                return
        self._enqueue(job, None)

    def _revoke(self, grant, pending):
        grant.revoking = True
        job = _Job("revoke", grant=grant)
        if pending is not None:
            job.pendings.append(pending)
        if not self._enqueue(job, pending):
            grant.revoking = False
