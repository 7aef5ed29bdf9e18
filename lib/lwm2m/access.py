"""Access control for LwM2M Servers (OMA-TS-LightweightM2M_Core V1.1 §7.3,
object 2 in §E.3), the rules the engine's server callers ask.

`AccessControl(model, count)` answers `allowed(ssid, op, oid, iid)`; `count()`
is the number of LwM2M Server accounts. The rules, in order:
- Security (0) is never accessible to an LwM2M Server (§E.1: only the
  Bootstrap-Server); OSCORE (21) holds key material and is never readable;
  both answer 4.01.
- With a single server account the server has full rights on every Object
  Instance, and object 2 need not exist (§7.3: "In the particular case where
  a single LwM2M Server Account exists ... the Server MUST have full access
  right"). Likewise when the client has no Access Control object.
- Access Control instances themselves: any server may read them; only their
  Access Control Owner may write them; servers neither create nor delete
  them -- the client does (§7.3.1: "Each Access Control Object Instance MUST
  only be managed by the Access Control Owner").
- Create needs the C bit in the instance protecting (oid, 65535) (§7.3.1.1).
- Otherwise the instance protecting (oid, iid) decides: the ACL resource
  instance of the server's Short Server ID if there is one; else, when the
  server is the Access Control Owner, full rights (§7.3.1: "the Access
  Control Owner LwM2M Server which doesn't have ACL Resource Instance, have
  full access right"); else the default ACL resource instance 0; else none.
  No Access Control instance for (oid, iid): no rights.
Discover is always allowed (its R bit covers Read, Observe and
Write-Attributes only), except on objects 0 and 21.

`created(ssid, oid, iid)` / `deleted(oid, iid)` keep object 2 in step with
the instances servers create and delete (§7.3.2: the creating server becomes
the Access Control Owner of the new instance).
"""
from micropython import const
from lwm2m.dm import READ, WRITE, CREATE
from lwm2m.objects.access_control import ACL, OWNER

DISCOVER = const(0)               # not an ACL bit: always allowed
FULL = const(31)
_NO_INSTANCE = const(65535)
_SECURITY = const(0)
_ACCESS = const(2)
_OSCORE = const(21)


class AccessControl:
    def __init__(self, model, count):
        self.model = model
        self.count = count

    def _aco(self):
        return self.model.find(_ACCESS)

    def enforced(self):
        """True when object 2 rules apply (several servers, object 2 present)."""
        return self._aco() is not None and self.count() > 1

    def rights(self, ssid, oid, iid):
        """The access bits of server `ssid` on (oid, iid); iid 65535: Create."""
        aco = self._aco()
        i = aco.find(oid, iid)
        if i is None:
            return 0
        inst = aco.instances[i]
        acl = inst.get(ACL) or {}
        if ssid in acl:
            return acl[ssid]
        if inst.get(OWNER) == ssid:
            return FULL & ~CREATE if iid != _NO_INSTANCE else FULL
        return acl.get(0, 0)

    def allowed(self, ssid, op, oid, iid):
        if oid == _SECURITY or (oid == _OSCORE and op in (READ, DISCOVER)):
            return False
        if op == DISCOVER or not self.enforced():
            return True
        if oid == _ACCESS:
            if op == READ:
                return True
            if op == WRITE and iid is not None:
                return self._aco().get(iid, OWNER) == ssid
            return False
        if op == CREATE:
            return bool(self.rights(ssid, oid, _NO_INSTANCE) & CREATE)
        if iid is None:                 # object level: filtered per instance
            return op == READ
        return bool(self.rights(ssid, oid, iid) & op)

    def created(self, ssid, oid, iid):
        """Server `ssid` created (oid, iid): it owns the new instance's
        Access Control instance (only needed with several servers)."""
        aco = self._aco()
        if aco is None or oid == _ACCESS or self.count() < 2:
            return
        old = aco.find(oid, iid)
        if old is not None:
            aco.delete(old)
        aco.add(oid, iid, ssid)

    def deleted(self, oid, iid):
        """(oid, iid) is gone: so is the Access Control instance for it."""
        aco = self._aco()
        if aco is None or oid == _ACCESS:
            return
        i = aco.find(oid, iid)
        if i is not None:
            aco.delete(i)
