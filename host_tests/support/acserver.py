"""A scripted LwM2M server with the C2C `/ac` service for the portable C2C
tests (both interpreters, fake radio). The real service is tools/server
(CPython); this one plays the server's side of docs c2c-extension.md steps
3-5 just far enough to drive the clients:

    srv = AuthServer(radio, ("srv", 5683))
    objs = srv.account("light-1")          # Security/Server/OSCORE objects for a node
    srv.policy[("light-1", "switch-1")] = {(3342, 0): 1}
    srv.revoke("light-1", "switch-1")      # Deletes on both sides

Every client talks OSCORE to it (one context each, found by kid). `/ac`
from a registered requester: 4.00 when the requester or the host is not
registered or the payload is no grant map; 4.03 when the policy grants
nothing; else an empty ACK, the provisioning of both clients with plain
LwM2M Creates (TLV) over their own OSCORE sessions, one at a time, with
fresh random key material and IDs unique on each node, and a protected
2.01 as the separate response. `creates` lists every Create started
(endpoint, object), so a test can count them.
"""
import binascii
import os
from coap.numbers import POST, DELETE, CREATED, BAD_REQUEST, FORBIDDEN, LWM2M_TLV
from coap.endpoint import SEPARATE
from coap.server import reply
from oscore.context import SecurityContext
from oscore.secure import SecureHandler, Protection
from lwm2m.dm import Model
from lwm2m.formats import tlv
from lwm2m.objects.security import Security
from lwm2m.objects.server import Server
from lwm2m.objects.oscore import Oscore
from lwm2m.objects.client_security import ClientSecurity
from lwm2m.objects.client import Client
from lwm2m.objects.client_access import ClientAccessControl
from host_tests.support.lwserver import LwServer, rng_bytes, queries
import cbor

SSID = 1
_SCHEMA = Model([Oscore(), ClientSecurity(), Client(), ClientAccessControl()])


def tlv_instance(oid, values):
    """TLV of bare resources {rid: value} for a Create on /oid."""
    recs = []
    for rid, v in sorted(values.items()):
        if isinstance(v, dict):
            recs.extend(((oid, 0, rid, ri), x) for ri, x in sorted(v.items()))
        else:
            recs.append(((oid, 0, rid), v))
    return tlv.encode(recs, (oid, 0), _SCHEMA.type_of)


class AuthServer(LwServer):
    def __init__(self, radio, addr, seed=99, lifetime=0):
        LwServer.__init__(self, radio, addr, seed)
        self.secure = SecureHandler(self.handle, [], rng_bytes(seed + 1))
        self.endpoint.handler = self.secure.handle
        self.prot = {}              # endpoint name -> Protection
        self.ctx_ep = {}            # our context -> endpoint name
        self.policy = {}            # (requester, host) -> {(oid,) / (oid, iid): bits}
        self.lifetime = lifetime    # 11001 Lifetime written on both sides
        self.ac = []                # (requester, query dict, grant map, answer code)
        self.creates = []           # (endpoint, oid) of every Create started
        self.grants = {}            # (requester, host) -> {"host": {...}, "req": {...}}
        self._id = 0x40
        self._scid = 10

    # -- accounts ------------------------------------------------------------------
    def mint(self):
        self._id += 1
        return bytes([0x20, self._id])

    def session(self, ep, rand=os.urandom):
        """A fresh OSCORE context of node `ep` with this server, our side added
        here; the node's (master secret, salt, sender ID, recipient ID)."""
        node_id, srv_id = self.mint(), self.mint()
        secret, salt = rand(16), rand(8)
        ctx = SecurityContext(secret, srv_id, node_id, master_salt=salt)
        self.secure.add(ctx)
        self.prot[ep] = Protection(ctx)
        self.ctx_ep[ctx] = ep
        return secret, salt, node_id, srv_id

    def spec(self, ep, rand=os.urandom):
        """`session()` as the node's --oscore text SECRET:SALT:SID:RID (hex)."""
        return ":".join(binascii.hexlify(x).decode() for x in self.session(ep, rand))

    def account(self, ep, lifetime=600):
        """The Security, Server and OSCORE objects of a node `ep` talking
        OSCORE to this server (its context here is added to ours)."""
        secret, salt, node_id, srv_id = self.session(ep)
        osc = Oscore()
        osc.add(secret, node_id, srv_id, master_salt=salt)
        sec, srv = Security(), Server()
        sec.add("coap://%s:%d" % self.addr, ssid=SSID, oscore=0)
        srv.add(SSID, lifetime=lifetime)
        return [sec, srv, osc]

    def registered(self, ep):
        for c in self.clients.values():
            if c["ep"] == ep:
                return c
        return None

    def uri(self, ep):
        return "coap://%s:%d" % self.registered(ep)["peer"]

    def to(self, ep, code, path, payload=b"", cf=None, callback=None):
        """Send a request to client `ep` over its OSCORE session."""
        self.security = self.prot[ep]
        return self.send(code, path, payload, cf, peer=self.registered(ep)["peer"],
                         callback=callback)

    def call_to(self, ep, code, path, payload=b"", cf=None, limit_ms=300000):
        results = self.to(ep, code, path, payload, cf)
        self.radio.run_while(lambda: not results, limit_ms)
        return results[0][0] if results else None

    # -- /ac -------------------------------------------------------------------------
    def handle(self, request, peer, now_ms):
        if request.code == POST and request.path() == ["ac"]:
            code = self.authorize(request, peer)
            if code is not None:
                return reply(code)
            return SEPARATE
        return LwServer.handle(self, request, peer, now_ms)

    def authorize(self, request, peer):
        """None when provisioning started, else the error code to answer."""
        security = getattr(request, "security", None)
        requester = self.ctx_ep.get(security.ctx) if security is not None else None
        q = queries(request)
        host = q.get("ep")
        try:
            asked = cbor.loads(bytes(request.payload))
            ok = isinstance(asked, dict) and all(isinstance(k, tuple) for k in asked)
        except ValueError:
            asked, ok = None, False
        code = None
        if (requester is None or not self.registered(requester) or not host
                or not self.registered(host) or not ok):
            code = BAD_REQUEST
        else:
            allowed = self.policy.get((requester, host), {})
            granted = dict((k, bits & allowed.get(k, 0)) for k, bits in asked.items()
                           if bits & allowed.get(k, 0))
            grant = self.grants.get((requester, host))
            if not granted or ("c" not in q and grant is None):
                code = FORBIDDEN
        self.ac.append((requester, q, asked, code))
        if code is None:
            self._provision(requester, host, granted, "c" in q, security, request, peer)
        return code

    def _provision(self, requester, host, granted, credentials, security, request, peer):
        grant = self.grants.get((requester, host))
        steps = []
        if credentials or grant is None:
            grant = {"host": {}, "req": {}, "acl": {}}
            self.grants[(requester, host)] = grant
            h_id, r_id = self.mint(), self.mint()
            secret, salt, idc = os.urandom(16), os.urandom(8), os.urandom(4)
            h_scid, r_scid = self._next_scid(), self._next_scid()
            grant["scid"] = h_scid
            for side, ep, peer_ep, scid, sid, rid in (
                    ("host", host, requester, h_scid, h_id, r_id),
                    ("req", requester, host, r_scid, r_id, h_id)):
                steps.append((side, ep, 11001, lambda s, e=peer_ep, c=scid: {
                    0: c, 1: self.lifetime, 9: e}))
                steps.append((side, ep, 21, lambda s, a=sid, b=rid: {
                    0: secret, 1: a, 2: b, 5: salt, 6: idc}))
                uri = self.uri(peer_ep) if side == "req" else ""
                steps.append((side, ep, 11000, lambda s, u=uri, c=scid, k=side: {
                    0: u, 2: 3, 10: c, 17: (21, s[k][21])}))
        for key, bits in sorted(granted.items()):
            oid, iid = key[0], key[1] if len(key) > 1 else 65535
            steps.append(("host", host, 11002, lambda s, o=oid, i=iid, b=bits: {
                0: o, 1: i, 2: {grant["scid"]: b}, 3: SSID}))
        self._run(steps, grant, security, request, peer)

    def _next_scid(self):
        self._scid += 1
        return self._scid

    def _run(self, steps, grant, security, request, peer):
        def answer(code):
            response = security.protect(reply(code))
            self.endpoint.send_response(peer, request, response, self.radio.now_ms)

        def next_step(response=None, error=None):
            if response is not None or error is not None:
                side, ep, oid = steps.pop(0)[:3]
                if response is None or response.code != CREATED:
                    return answer(FORBIDDEN)
                iid = int(response.location_path()[-1])
                if oid == 11002:
                    grant["acl"].setdefault(ep, []).append(iid)
                else:
                    grant[side][oid] = iid
            if not steps:
                return answer(CREATED)
            side, ep, oid, values = steps[0]
            self.creates.append((ep, oid))
            self.to(ep, POST, "/%d" % oid, tlv_instance(oid, values(grant)), LWM2M_TLV,
                    callback=next_step)
        next_step()

    # -- revocation -------------------------------------------------------------------------
    def revoke(self, requester, host, limit_ms=300000):
        """Delete what a grant provisioned on both clients; returns the codes."""
        grant = self.grants.pop((requester, host))
        codes = []
        paths = [(host, "/11002/%d" % i) for i in grant["acl"].get(host, [])]
        for side, ep in (("host", host), ("req", requester)):
            for oid in (11000, 11001, 21):
                if oid in grant[side]:
                    paths.append((ep, "/%d/%d" % (oid, grant[side][oid])))
        for ep, path in paths:
            r = self.call_to(ep, DELETE, path, limit_ms=limit_ms)
            codes.append(None if r is None else r.code)
        return codes
