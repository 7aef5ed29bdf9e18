"""Engine test fixtures: a tiny Device (3) stand-in, a made-up object 9999
that servers may create and delete, and builders for a node on the fake
radio. The real Device and IPSO objects are lib/lwm2m/objects/device.py etc."""
from coap.numbers import METHOD_NOT_ALLOWED, BAD_REQUEST
from lwm2m.engine import Client
from lwm2m.model import LwObject, Error, R, W, E, MULTIPLE, MANDATORY
from lwm2m.defs import DEVICE
from lwm2m.formats import types
from lwm2m.objects.security import Security
from lwm2m.objects.server import Server
from lwm2m.objects.access_control import AccessControlObject
from lwm2m.objects.oscore import Oscore
from lwm2m.dm import Model
from lwm2m.formats import tlv
from host_tests.support.lwserver import rng_bytes

NODE = ("node", 5683)


def table(*entries):
    return b"".join(rid.to_bytes(2, "big") + flags.to_bytes(2, "big")
                    for rid, flags in sorted(entries))


class Device(LwObject):
    """Device stand-in: manufacturer, model, reboot (counts), error codes."""
    oid = 3
    table = DEVICE
    multiple = False

    def __init__(self):
        LwObject.__init__(self)
        self.instances[0] = {0: "ACME", 1: "node-1", 4: None, 11: {0: 0}, 16: "U"}
        self.reboots = 0

    def execute(self, iid, rid, args):
        if rid == 4:
            self.reboots += 1
            return
        raise Error(METHOD_NOT_ALLOWED)

    def create(self, iid, values):
        raise Error(METHOD_NOT_ALLOWED, "single Device instance")

    def delete(self, iid):
        raise Error(METHOD_NOT_ALLOWED, "the Device cannot be deleted")


NAME = 0           # String, RW, mandatory
LEVEL = 1          # Integer, RW, 0..100 (validate)
TAGS = 2           # multiple String, RW
SERIAL = 3         # String, R
RESET = 4          # Execute


class Thing(LwObject):
    """A made-up multiple-instance object servers may Create and Delete."""
    oid = 9999
    version = "1.0"
    table = table((NAME, R | W | MANDATORY | types.STRING),
                  (LEVEL, R | W | types.INTEGER),
                  (TAGS, R | W | MULTIPLE | types.STRING),
                  (SERIAL, R | types.STRING),
                  (RESET, E | types.NONE))

    def __init__(self):
        LwObject.__init__(self)
        self.resets = []

    def defaults(self, iid):
        return {SERIAL: "S%d" % iid, RESET: None}

    def validate(self, iid, rid, value):
        if rid == LEVEL and not 0 <= value <= 100:
            raise Error(BAD_REQUEST, "level is 0..100")

    def execute(self, iid, rid, args):
        self.resets.append((iid, args))


def schema():
    """A Model of the standard objects, for encoding test payloads."""
    return Model([Security(), Server(), AccessControlObject(), Oscore(), Device(),
                  Thing()])


def tlv_payload(records, base):
    return tlv.encode(records, base, schema().type_of)


def config(servers=(), bootstrap=None, oscore=None):
    """Security/Server objects: servers = [(ssid, uri, lifetime)] or with a
    4th item: extra Server resources {rid: value}; bootstrap: its URI."""
    sec, srv = Security(), Server()
    for entry in servers:
        ssid, uri, lifetime = entry[:3]
        extra = entry[3] if len(entry) > 3 else None
        sec.add(uri, ssid=ssid, oscore=oscore)
        srv.add(ssid, lifetime=lifetime, extra=extra)
    if bootstrap is not None:
        sec.add(bootstrap, bootstrap=True)
    return sec, srv


def make_node(radio, objects, addr=NODE, name="node-1", store=None, seed=7, **kw):
    """An engine attached to the radio at `addr`."""
    node = Client(name, objects, store=store, rand=rng_bytes(seed), **kw)
    node.transport = radio.attach(addr, node)
    return node


def frames_from(radio, src, dst=None):
    """Decoded CoAP messages `src` put on the air (first hop), with times."""
    from coap.message import decode
    out = []
    for f in radio.log:
        if f.src == src and f.hop == 0 and (dst is None or f.dst == dst):
            out.append((f.t_ms, decode(f.data)))
    return out
