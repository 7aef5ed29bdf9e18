"""LwM2M OSCORE object (21, OMA-TS-LightweightM2M_Core V1.1 §E.5 and
Transport V1.1 §5.5): the material of one OSCORE security context, linked
from Security (0) resource 17 or, for the C2C extension, from 11000
resource 17.

Nothing of it is ever readable by a server (master secret, salt and IDs are
key material): `readable()` is False for every resource, and lwm2m.access
refuses Reads of object 21. `context(iid, store)` builds the
oscore.context.SecurityContext; its Sender Sequence Number is persisted in
`store` ahead of use (RFC 8613 B.1.1), under a key derived from the IDs.
"""
from micropython import const
from lwm2m.model import LwObject
from lwm2m.defs import OSCORE

MASTER_SECRET = const(0)
SENDER_ID = const(1)
RECIPIENT_ID = const(2)
AEAD = const(3)
HMAC = const(4)
MASTER_SALT = const(5)
ID_CONTEXT = const(6)

AES_CCM_16_64_128 = const(10)      # the only AEAD algorithm supported
HKDF_SHA_256 = const(-10)          # the only HKDF algorithm supported


class Oscore(LwObject):
    oid = 21
    table = OSCORE

    def readable(self, iid, rid):
        return False

    def add(self, master_secret, sender_id, recipient_id, master_salt=b"",
            id_context=None, iid=None):
        iid = self.new_iid() if iid is None else iid
        values = {MASTER_SECRET: bytes(master_secret), SENDER_ID: bytes(sender_id),
                  RECIPIENT_ID: bytes(recipient_id)}
        if master_salt:
            values[MASTER_SALT] = bytes(master_salt)
        if id_context is not None:
            values[ID_CONTEXT] = bytes(id_context)
        self.create(iid, values)
        return iid

    def complete(self, iid):
        """True when the instance has what a context needs (§E.5 mandatory
        resources) and asks for algorithms this client has."""
        inst = self.instances.get(iid)
        if inst is None:
            return False
        for rid in (MASTER_SECRET, SENDER_ID, RECIPIENT_ID):
            if not isinstance(inst.get(rid), (bytes, bytearray)):
                return False
        if not inst[MASTER_SECRET]:
            return False
        return (inst.get(AEAD, AES_CCM_16_64_128) == AES_CCM_16_64_128
                and inst.get(HMAC, HKDF_SHA_256) == HKDF_SHA_256)

    def context(self, iid, store=None):
        """A SecurityContext from instance `iid` (ValueError if unusable)."""
        if not self.complete(iid):
            raise ValueError("incomplete OSCORE instance %d" % iid)
        from oscore.context import SecurityContext
        inst = self.instances[iid]
        return SecurityContext(inst[MASTER_SECRET], inst[SENDER_ID], inst[RECIPIENT_ID],
                               master_salt=inst.get(MASTER_SALT) or b"",
                               id_context=inst.get(ID_CONTEXT), store=store)
