"""tools/server C2C authorization service (/ac, docs c2c-extension.md steps
3-5): stand-in clients on the fake radio, each registered over its own OSCORE
context and holding a DataModel that records every Create / Write / Delete
the server sends and answers like our engine. Checks the exact instances
provisioned on both sides, fresh keys and IDs, every refusal code, roll-back
of a failed provisioning, revocation, cleanups, the policy file and that no
key ever reaches a log line or the console."""
import json
import logging
import subprocess
import sys

import pytest

import cbor
from coap.message import Message
from coap.numbers import (CON, ACK, GET, POST, CBOR, CREATED, CHANGED, BAD_REQUEST, FORBIDDEN,
                          UNSUPPORTED_CONTENT_FORMAT, METHOD_NOT_ALLOWED, CONTENT,
                          URI_QUERY, CONTENT_FORMAT, LINK_FORMAT)
from oscore.context import SecurityContext
from oscore.secure import Protection
from tools.sim.radio import Radio
from tools.server.server import Server
from tools.server.driver import RadioDriver
from tools.server.authz import Authz, parse_rights, AcError
from tools.server.console import Console
from tools.server.policy import Policy, PolicyError, bits_text, parse_bits
from tools.server import grants as grants_module
from host_tests.support.lwm2m_standin import StandIn, DataModel, SERVER, seeded_rand
from host_tests.cpython.procs import ROOT

PAYLOADS = {"light": b'</>;ct="60 110 112 11542",</1/0>,</3311/0>',
            "switch": b'</>;ct="60 110 112 11542",</1/0>,</3342/0>,</3342/1>',
            "sensor": b'</>;ct="60 110 112 11542",</1/0>,</3303/0>'}
DEMO_POLICY = {"rules": [{"requester": "light", "host": "switch", "allow": {"/3342/0": "R"}}]}
WIDE_POLICY = {"rules": [
    {"requester": "light", "host": "switch", "allow": {"/3342/0": "R", "/3342/1": "RW"}},
    {"requester": "sens*", "host": "switch", "allow": {"/3342": "R"}},
    {"requester": "switch", "host": "light", "allow": {"/3311/0": "RW"}},
]}
SSID = 7                            # our Short Server ID as the stand-ins' /1 tells it


class Net:
    def __init__(self, radio, server, authz, nodes, journal):
        self.radio = radio
        self.server = server
        self.authz = authz
        self.nodes = nodes
        self.journal = journal

    def model(self, name):
        return self.nodes[name].model

    def objects(self, name):
        return dict((oid, insts) for oid, insts in self.model(name).objects.items()
                    if oid != 1 and insts)


def server_ids(i):
    """(server sender, server recipient) of node i: 1-byte IDs 1,2 / 3,4 / 5,6."""
    return bytes([2 * i + 1]), bytes([2 * i + 2])


def make_net(names=("light", "switch"), policy=DEMO_POLICY, secure=True, rand=None,
             register=True, loss=0.0, **kw):
    radio = Radio(seed=5)
    server = Server(None, rand=seeded_rand(77))
    server.endpoint.transport = radio.attach(SERVER, server)
    RadioDriver(server, radio, SERVER)
    journal = []
    nodes = {}
    contexts = []
    for i, name in enumerate(names):
        radio.link(name, "server", delay_ms=5, loss=loss)
        node_ctx = None
        if secure:
            secret = bytes([0xA0 + i]) * 16
            s_id, r_id = server_ids(i)
            contexts.append(SecurityContext(secret, s_id, r_id, b"salt-%d" % i))
            node_ctx = SecurityContext(secret, r_id, s_id, b"salt-%d" % i)
        model = DataModel(name=name, journal=journal)
        model.objects[1][0] = {0: SSID, 1: 3600, 6: False, 7: "U"}
        nodes[name] = StandIn(radio, (name, 5683), seed=20 + 10 * i, oscore=node_ctx,
                              model=model)
    if contexts:
        server.enable_oscore(contexts, rand=seeded_rand(78))
    authz = Authz(server, Policy.from_data(policy), rand=rand or seeded_rand(99), **kw)
    net = Net(radio, server, authz, nodes, journal)
    if register:
        for name in names:
            assert nodes[name].register(name, lt=86400, payload=PAYLOADS[name]).code == CREATED
    return net


def ask(node, host, rights, creds=True, query=None, payload=None, cf=CBOR):
    """POST /ac from a stand-in; the response (None on timeout)."""
    if query is None:
        query = ["ep=%s" % host] + (["c"] if creds else [])
    if payload is None:
        payload = cbor.dumps(rights)
    return node.request(POST, "/ac", query, payload, cf)


def ask_later(node, host, rights, creds=True):
    """Send POST /ac without running the radio; a list that gets (response, error)."""
    msg = Message(CON, POST, payload=cbor.dumps(rights))
    msg.set_path("/ac")
    msg.add(URI_QUERY, "ep=%s" % host)
    if creds:
        msg.add(URI_QUERY, "c")
    msg.add(CONTENT_FORMAT, CBOR)
    box = []
    node.client.request(SERVER, msg, lambda r, e: box.append((r, e)), node.radio.now_ms,
                        security=Protection(node.oscore))
    node.radio.wake(node.addr)
    return box


def only(model, oid):
    insts = model.objects[oid]
    assert len(insts) == 1, insts
    return next(iter(insts.items()))


def keys_of(model):
    """(secret, salt, ID context, sender, recipient) of the node's only 21."""
    _, inst = only(model, 21)
    return inst[0], inst[5], inst[6], inst[1], inst[2]


# -- the grant ---------------------------------------------------------------------------

def test_ac_is_advertised_in_well_known_core():
    net = make_net()
    r = net.nodes["light"].request(GET, "/.well-known/core")
    assert r.code == CONTENT and r.content_format == LINK_FORMAT
    assert b'</ac>;rt="lwm2m.auth"' in bytes(r.payload)


def test_grant_provisions_exactly_the_documented_instances_on_both_sides():
    net = make_net()
    light, switch = net.model("light"), net.model("switch")
    r = ask(net.nodes["light"], "switch", {(3342, 0): 1})
    assert r is not None and r.code == CREATED
    assert r.mtype == CON                       # a separate response, after provisioning
    assert not r.payload
    # the host: 11001, 21, 11000 for the requester, then the 11002 rights
    made = [(op.kind, op.path) for op in switch.ops if op.kind != "read"]
    assert made == [("create", (11001, 0)), ("create", (21, 0)), ("create", (11000, 0)),
                    ("create", (11002, 0))]
    assert all(op.secure and op.code >> 5 == 2 for op in switch.ops)
    (_, acc), (_, sec), (_, osc), (_, acl) = (only(switch, o) for o in (11001, 11000, 21, 11002))
    sid_h = acc[0]
    assert 1 <= sid_h <= 65534 and sid_h != SSID
    assert acc == {0: sid_h, 1: 0, 6: False, 7: "U", 9: "light"}
    assert sec == {0: "coap://light:5683", 2: 3, 3: b"", 4: b"", 5: b"", 10: sid_h,
                   17: (21, 0)}
    assert acl == {0: 3342, 1: 0, 2: {sid_h: 1}, 3: SSID}
    assert sorted(osc) == [0, 1, 2, 5, 6]
    assert len(osc[0]) == 16 and len(osc[5]) == 8 and len(osc[6]) >= 1
    assert osc[1] != osc[2] and 1 <= len(osc[1]) <= 7 and 1 <= len(osc[2]) <= 7
    # the requester: its account for the host with the host's URI, the mirrored 21
    made = [(op.kind, op.path) for op in light.ops]
    assert made == [("create", (11001, 0)), ("create", (21, 0)), ("create", (11000, 0))]
    assert all(op.secure for op in light.ops)
    (_, racc), (_, rsec), (_, rosc) = (only(light, o) for o in (11001, 11000, 21))
    sid_r = racc[0]
    assert racc == {0: sid_r, 1: 0, 6: False, 7: "U", 9: "switch"}
    assert rsec == {0: "coap://switch:5683", 2: 3, 3: b"", 4: b"", 5: b"", 10: sid_r,
                    17: (21, 0)}
    assert rosc == {0: osc[0], 1: osc[2], 2: osc[1], 5: osc[5], 6: osc[6]}
    assert light.objects[11002] == {}
    # both clients at once, each in the documented order; 2.01 only after all
    order = [(name, op.path[0]) for name, op in net.journal if op.kind == "create"]
    assert [oid for name, oid in order if name == "switch"] == [11001, 21, 11000, 11002]
    assert [oid for name, oid in order if name == "light"] == [11001, 21, 11000]
    assert order.index(("light", 11001)) < order.index(("switch", 21))
    grant, = net.authz.grants()
    assert (grant.id, grant.requester, grant.host, grant.rights) == \
        ("g1", "light", "switch", {(3342, 0): 1})


def test_minted_ids_avoid_every_context_either_node_holds():
    # 1..4 are the server contexts' IDs; the scripted rand proposes them first
    script = [1, 2, 3, 4, 1, 0x30, 3, 0x30, 0x31]
    base = seeded_rand(3)

    def rand(n):
        return bytes([script.pop(0)]) if n == 1 and script else base(n)
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY, rand=rand)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    _, _, _, sender, recipient = keys_of(net.model("switch"))
    assert {sender, recipient} == {b"\x30", b"\x31"}
    # a second grant on the same host must avoid 0x30/0x31 as well (script: again)
    script.extend([0x30, 0x31, 5, 6, 0x32, 0x31, 0x33])
    assert ask(net.nodes["sensor"], "switch", {(3342, 0): 1}).code == CREATED
    ids = set()
    for _, inst in net.model("switch").objects[21].items():
        ids.update((inst[1], inst[2]))
    assert ids == {b"\x30", b"\x31", b"\x32", b"\x33"}
    held = {bytes([i]) for i in range(1, 7)}     # the three server contexts
    assert not ids & held


def test_two_grants_get_fresh_keys_ids_and_short_ids_and_share_the_hosts_11002():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    assert ask(net.nodes["sensor"], "switch", {(3342, 0): 1}).code == CREATED
    switch = net.model("switch")
    contexts = list(switch.objects[21].values())
    assert len(contexts) == 2
    a, b = contexts
    assert a[0] != b[0] and a[5] != b[5] and a[6] != b[6]
    assert len({a[1], a[2], b[1], b[2]}) == 4
    sids = sorted(acc[0] for acc in switch.objects[11001].values())
    assert len(set(sids)) == 2
    assert {acc[9] for acc in switch.objects[11001].values()} == {"light", "sensor"}
    # one 11002 instance for /3342/0 with both peers in its ACL (a Write of resource 2)
    (iid, acl), = switch.objects[11002].items()
    assert acl[2] == {sids[0]: 1, sids[1]: 1}
    write = [op for op in switch.ops if op.kind == "write"]
    assert [op.path for op in write] == [(11002, iid, 2)]
    assert sorted(g.requester for g in net.authz.grants()) == ["light", "sensor"]


def test_concurrent_requests_for_one_host_run_one_after_the_other():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    first = ask_later(net.nodes["light"], "switch", {(3342, 0): 1})
    second = ask_later(net.nodes["sensor"], "switch", {(3342, 0): 1, (3342, 1): 1})
    net.radio.run_while(lambda: not (first and second), 300000)
    assert first[0][0].code == CREATED and second[0][0].code == CREATED
    acls = {acl[1]: acl[2] for acl in net.model("switch").objects[11002].values()}
    assert sorted(acls) == [0, 1] and len(acls[0]) == 2 and len(acls[1]) == 1


def test_rights_only_without_c_adds_11002_for_the_existing_account():
    net = make_net(policy=WIDE_POLICY)
    light = net.nodes["light"]
    assert ask(light, "switch", {(3342, 0): 1}).code == CREATED
    switch = net.model("switch")
    before = len(switch.ops), len(net.model("light").ops)
    r = ask(light, "switch", {(3342, 1): 3, (3342, 0): 1}, creds=False)
    assert r.code == CREATED
    new = switch.ops[before[0]:]
    assert [(op.kind, op.path[0]) for op in new] == [("create", 11002)]
    assert len(net.model("light").ops) == before[1]         # nothing on the requester
    sid = only(switch, 11001)[1][0]
    assert new[0].values == {0: 3342, 1: 1, 2: {sid: 3}, 3: SSID}
    grant, = net.authz.grants()
    assert grant.rights == {(3342, 0): 1, (3342, 1): 3}


def test_rights_only_without_an_account_is_refused():
    net = make_net()
    r = ask(net.nodes["light"], "switch", {(3342, 0): 1}, creds=False)
    assert r.code == FORBIDDEN and r.mtype == ACK
    assert net.objects("switch") == {} and net.objects("light") == {}


def test_asking_c_again_replaces_the_account_and_keeps_the_rights():
    net = make_net(policy=WIDE_POLICY)
    light = net.nodes["light"]
    assert ask(light, "switch", {(3342, 0): 1}).code == CREATED
    old_keys = keys_of(net.model("switch"))
    old_sid = only(net.model("switch"), 11001)[1][0]
    assert ask(light, "switch", {(3342, 1): 1}).code == CREATED
    net.radio.run_for(1000)                     # the old account's deletion follows
    switch, lmodel = net.model("switch"), net.model("light")
    for model in (switch, lmodel):
        for oid in (11000, 11001, 21):
            assert len(model.objects[oid]) == 1, (model.name, oid)
    new_keys = keys_of(switch)
    assert all(n != o for n, o in zip(new_keys, old_keys))
    new_sid = only(switch, 11001)[1][0]
    assert new_sid != old_sid
    acls = {(a[0], a[1]): a[2] for a in switch.objects[11002].values()}
    assert acls == {(3342, 0): {new_sid: 1}, (3342, 1): {new_sid: 1}}
    _, sec = only(switch, 11000)
    assert sec[10] == new_sid and sec[17] == (21, next(iter(switch.objects[21])))
    grant, = net.authz.grants()
    assert grant.rights == {(3342, 0): 1, (3342, 1): 1}
    assert net.authz.book.cleanups == []


# -- refusals ------------------------------------------------------------------------------

def assert_nothing_provisioned(net):
    for name in net.nodes:
        assert net.objects(name) == {}, name
        assert [op for op in net.model(name).ops if op.kind != "read"] == []
    assert net.authz.grants() == []


def test_policy_refusal_is_403_and_provisions_nothing():
    net = make_net(names=("light", "switch", "sensor"))
    r = ask(net.nodes["sensor"], "switch", {(3342, 0): 1})     # no rule for sensor
    assert r.code == FORBIDDEN and r.mtype == ACK
    r = ask(net.nodes["switch"], "light", {(3311, 0): 1})      # nor this direction
    assert r.code == FORBIDDEN
    assert_nothing_provisioned(net)


def test_asking_more_than_the_policy_allows_is_403():
    net = make_net()
    assert ask(net.nodes["light"], "switch", {(3342, 0): 3}).code == FORBIDDEN   # R+W
    assert ask(net.nodes["light"], "switch", {(3342,): 1}).code == FORBIDDEN     # object
    assert ask(net.nodes["light"], "switch",
               {(3342, 0): 1, (3342, 1): 1}).code == FORBIDDEN
    assert_nothing_provisioned(net)
    assert "asked RW" in net.authz.decisions[0].reason


def test_path_not_registered_by_the_host_is_403():
    net = make_net(policy={"rules": [{"requester": "light", "host": "switch", "allow": {"*": 31}}]})
    assert ask(net.nodes["light"], "switch", {(3342, 5): 1}).code == FORBIDDEN
    assert ask(net.nodes["light"], "switch", {(3303, 0): 1}).code == FORBIDDEN
    assert ask(net.nodes["light"], "switch", {(3303,): 16}).code == FORBIDDEN
    assert "not registered by switch" in net.authz.decisions[0].reason
    assert_nothing_provisioned(net)


def test_server_objects_are_never_granted_even_with_a_wildcard_policy():
    net = make_net(policy={"rules": [{"requester": "*", "host": "*", "allow": {"*": "RWEDC"}}]})
    for key in ((1, 0), (11000,), (11002, 0), (21, 0), (2,), (0, 0)):
        assert ask(net.nodes["light"], "switch", {key: 1}).code == FORBIDDEN, key
    assert_nothing_provisioned(net)


def test_unregistered_host_or_requester_is_400():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY, register=False)
    net.nodes["light"].register("light", lt=86400, payload=PAYLOADS["light"])
    r = ask(net.nodes["light"], "switch", {(3342, 0): 1})
    assert r.code == BAD_REQUEST and r.mtype == ACK
    net.nodes["switch"].register("switch", lt=86400, payload=PAYLOADS["switch"])
    r = ask(net.nodes["sensor"], "switch", {(3342, 0): 1})      # sensor never registered
    assert r.code == BAD_REQUEST
    r = ask(net.nodes["light"], "nobody", {(3342, 0): 1})
    assert r.code == BAD_REQUEST
    assert_nothing_provisioned(net)


def test_a_request_outside_the_registering_context_is_not_a_requester():
    net = make_net()
    light = net.nodes["light"]
    r = light.request(POST, "/ac", ["ep=switch", "c"], cbor.dumps({(3342, 0): 1}), CBOR,
                      secure=False)                 # NoSec from an OSCORE registration
    assert r.code == BAD_REQUEST
    assert_nothing_provisioned(net)


@pytest.mark.parametrize("query,payload,cf,code", [
    (["ep=switch", "c"], b"\xff\x00", CBOR, BAD_REQUEST),                    # not CBOR
    (["ep=switch", "c"], cbor.dumps([3342, 0]), CBOR, BAD_REQUEST),          # not a map
    (["ep=switch", "c"], cbor.dumps({}), CBOR, BAD_REQUEST),                 # empty
    (["ep=switch", "c"], cbor.dumps({3342: 1}), CBOR, BAD_REQUEST),          # key not array
    (["ep=switch", "c"], cbor.dumps({(3342, 0, 1): 1}), CBOR, BAD_REQUEST),  # 3 IDs
    (["ep=switch", "c"], cbor.dumps({("a", 0): 1}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 70000): 1}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 0): 0}), CBOR, BAD_REQUEST),     # no bits
    (["ep=switch", "c"], cbor.dumps({(3342, 0): 32}), CBOR, BAD_REQUEST),    # beyond C
    (["ep=switch", "c"], cbor.dumps({(3342, 0): -1}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 0): "R"}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 0): True}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 0): 1.0}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 0): 1, (3342, 65535): 1, (3342,): 1}), CBOR,
     BAD_REQUEST),                                                           # twice
    (["c"], cbor.dumps({(3342, 0): 1}), CBOR, BAD_REQUEST),                  # no ep
    (["ep="], cbor.dumps({(3342, 0): 1}), CBOR, BAD_REQUEST),
    (["ep=switch", "ep=light"], cbor.dumps({(3342, 0): 1}), CBOR, BAD_REQUEST),
    (["ep=switch", "c=1"], cbor.dumps({(3342, 0): 1}), CBOR, BAD_REQUEST),
    (["ep=switch", "x=1"], cbor.dumps({(3342, 0): 1}), CBOR, BAD_REQUEST),
    (["ep=switch", "c"], cbor.dumps({(3342, 0): 1}), None, BAD_REQUEST),     # no format
    (["ep=switch", "c"], cbor.dumps({(3342, 0): 1}), 50, UNSUPPORTED_CONTENT_FORMAT),
])
def test_malformed_requests(query, payload, cf, code):
    net = make_net()
    r = ask(net.nodes["light"], "switch", None, query=query, payload=payload, cf=cf)
    assert r.code == code and r.mtype == ACK
    assert_nothing_provisioned(net)


def test_other_methods_and_paths():
    net = make_net()
    light = net.nodes["light"]
    assert light.request(GET, "/ac").code == METHOD_NOT_ALLOWED
    assert light.request(POST, "/ac/x", ["ep=switch"], cbor.dumps({(3342, 0): 1}),
                         CBOR).code == 132


def test_parse_rights_decodes_array_keys_to_tuples():
    assert parse_rights(bytes.fromhex("a1821905 0e0001".replace(" ", ""))) == {(1294, 0): 1}
    assert parse_rights(cbor.dumps({(3342,): 16, (3342, 65535 - 1): 1})) == \
        {(3342,): 16, (3342, 65534): 1}
    assert parse_rights(cbor.dumps({(3342, 65535): 16})) == {(3342,): 16}
    with pytest.raises(AcError):
        parse_rights(cbor.dumps({(65535,): 1}))


def test_credentials_only_travel_over_oscore_sessions():
    net = make_net(secure=False)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == FORBIDDEN
    assert "OSCORE" in net.authz.decisions[-1].reason
    assert_nothing_provisioned(net)
    net = make_net(secure=False, allow_insecure=True)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED


# -- failures and roll-back ---------------------------------------------------------------

STEPS = [("switch", "create", 11001), ("switch", "create", 21), ("switch", "create", 11000),
         ("switch", "create", 11002), ("light", "create", 11001), ("light", "create", 21),
         ("light", "create", 11000)]


@pytest.mark.parametrize("node,kind,oid", STEPS)
def test_a_failed_step_rolls_back_everything_and_answers_403(node, kind, oid):
    net = make_net()
    net.model(node).fail[(kind, oid)] = BAD_REQUEST
    r = ask(net.nodes["light"], "switch", {(3342, 0): 1})
    assert r.code == FORBIDDEN and r.mtype == CON           # after the roll-back
    for name in net.nodes:
        assert net.objects(name) == {}, name
    assert net.authz.grants() == [] and net.authz.book.cleanups == []
    # every instance created was deleted, in reverse order, over the secured session
    for name in net.nodes:
        model = net.model(name)
        created = [op.path for op in model.done("create")]
        deleted = [op.path for op in model.done("delete")]
        assert deleted == list(reversed(created)), name
        assert all(op.secure for op in model.ops)
    assert "rolling back" not in net.authz.decisions[-1].reason
    assert "%d" % oid in net.authz.decisions[-1].reason
    # the same request succeeds once the client behaves
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED


def test_a_failed_rights_write_restores_the_old_acl():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    switch = net.model("switch")
    acl_before = dict(only(switch, 11002)[1][2])
    switch.fail[("create", 11000)] = BAD_REQUEST      # nothing written yet to the ACL
    assert ask(net.nodes["sensor"], "switch", {(3342, 0): 1}).code == FORBIDDEN
    assert only(switch, 11002)[1][2] == acl_before
    sensor = net.model("sensor")
    original = sensor.handle
    tries = []

    def handle(request):                # the requester fails after the host's ACL write
        if request.path() == ["11000"]:
            tries.append(net.radio.now_ms)
            return None if len(tries) == 1 else Message(code=FORBIDDEN)
        return original(request)
    sensor.handle = handle
    ask_later(net.nodes["sensor"], "switch", {(3342, 0): 1})
    assert decided(net, 3).code == FORBIDDEN
    assert only(switch, 11002)[1][2] == acl_before
    writes = [op for op in switch.ops if op.kind == "write"]
    assert len(writes) == 2 and writes[1].values == {2: acl_before}
    assert [g.requester for g in net.authz.grants()] == ["light"]
    assert len(switch.objects[11001]) == 1 and len(switch.objects[21]) == 1


def test_a_host_that_stops_answering_mid_way_is_rolled_back_later():
    net = make_net()
    switch = net.model("switch")
    original = switch.handle

    def handle(request):                # answers the 11000 Create, then the link goes down
        response = original(request)
        if request.path() == ["11000"]:
            net.radio.link("switch", "server", delay_ms=5, loss=1.0)
        return response
    switch.handle = handle
    box = ask_later(net.nodes["light"], "switch", {(3342, 0): 1})
    net.radio.run_for(200000)
    # the 11002 Create times out (up to MAX_TRANSMIT_WAIT, 93 s, which is also how
    # long the requester waits): the answer, when it still arrives, is 4.03
    assert box and (box[0][0] is None or box[0][0].code == FORBIDDEN)
    decision = net.authz.decisions[-1]
    assert decision.code == FORBIDDEN and "timeout" in decision.reason
    assert net.objects("light") == {}
    lines = net.authz.lines()
    assert any("cleanup pending: delete /11000/0 on switch" in l for l in lines)
    assert len([c for c in net.authz.book.cleanups if c.endpoint == "switch"]) == 3
    assert net.authz.grants() == []
    net.radio.link("switch", "server", delay_ms=5, loss=0.0)
    assert net.nodes["switch"].update().code == CHANGED     # it is back: cleanup runs
    net.radio.run_for(2000)
    assert net.objects("switch") == {} and net.authz.book.cleanups == []


def test_flow_under_30_percent_loss_completes_once():
    net = make_net(loss=0.3)
    r = ask(net.nodes["light"], "switch", {(3342, 0): 1})
    assert r is not None and r.code == CREATED
    for name, oids in (("switch", (11001, 21, 11000, 11002)), ("light", (11001, 21, 11000))):
        for oid in oids:
            assert len(net.model(name).objects[oid]) == 1, (name, oid)
    assert len(net.authz.grants()) == 1


# -- revocation, expiry, cleanups --------------------------------------------------

def test_revoke_deletes_everything_on_both_sides():
    net = make_net()
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    outcome = net.authz.revoke("g1").wait()
    assert outcome.ok and outcome.pending == []
    for name in ("switch", "light"):
        assert net.objects(name) == {}
        deletes = [op.path for op in net.model(name).done("delete")]
        assert all(op.secure for op in net.model(name).done("delete"))
        assert sorted(p[0] for p in deletes) == sorted(
            (11000, 21, 11001, 11002) if name == "switch" else (11000, 21, 11001))
    # the host's account goes first: the peer is cut off before anything else
    first = [op for name, op in net.journal if op.kind == "delete"][0]
    assert first.path[0] == 11000
    assert net.authz.grants() == [] and net.authz.lines() == []
    with pytest.raises(KeyError):
        net.authz.revoke("g1")


def test_revoke_keeps_a_shared_account_and_other_peers_rights():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    assert ask(net.nodes["sensor"], "switch", {(3342, 0): 1}).code == CREATED
    assert ask(net.nodes["switch"], "light", {(3311, 0): 3}, creds=False).code == CREATED
    g_light = [g for g in net.authz.grants() if g.requester == "light"][0]
    assert net.authz.revoke(g_light.id).wait().ok
    switch = net.model("switch")
    # light's rights on switch are gone; its account stays (switch -> light uses it)
    assert {acc[9] for acc in switch.objects[11001].values()} == {"light", "sensor"}
    (_, acl), = switch.objects[11002].items()
    sensor_sid = [acc[0] for acc in switch.objects[11001].values() if acc[9] == "sensor"][0]
    assert acl[2] == {sensor_sid: 1}
    g_back = [g for g in net.authz.grants() if g.requester == "switch"][0]
    assert net.authz.revoke(g_back.id).wait().ok        # now the pair's account goes
    assert {acc[9] for acc in switch.objects[11001].values()} == {"sensor"}
    assert net.objects("light") == {}


def test_revoke_of_an_unreachable_host_is_finished_when_it_comes_back():
    net = make_net()
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    net.radio.link("switch", "server", delay_ms=5, loss=1.0)
    outcome = net.authz.revoke("g1").wait()
    assert not outcome.ok and "timeout" in outcome.reason
    assert net.objects("light") == {}               # the requester's side is gone
    assert net.authz.grants() == []
    assert any(l.startswith("cleanup pending") and "switch" in l for l in net.authz.lines())
    net.radio.link("switch", "server", delay_ms=5, loss=0.0)
    assert net.authz.retry_cleanups().wait().ok
    assert net.objects("switch") == {} and net.authz.lines() == []


def test_policy_lifetime_reaches_11001_and_the_grant_expires():
    policy = {"rules": [{"requester": "light", "host": "switch", "allow": {"/3342/0": "R"},
                         "lifetime": 600}]}
    net = make_net(policy=policy)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    assert only(net.model("switch"), 11001)[1][1] == 600
    assert only(net.model("light"), 11001)[1][1] == 600
    assert "expires in" in net.authz.lines()[0]
    net.radio.run_for(601 * 1000)
    assert net.authz.grants() == []                  # expired: revoked
    net.radio.run_for(2000)
    assert net.objects("switch") == {} and net.objects("light") == {}


def test_short_server_id_falls_back_when_the_host_shows_none():
    net = make_net()
    del net.model("switch").objects[1][0]
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    assert only(net.model("switch"), 11002)[1][3] == 1
    net = make_net(short_server_id=9)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    assert only(net.model("switch"), 11002)[1][3] == 9
    assert [op for op in net.model("switch").ops if op.kind == "read"] == []


def test_short_client_ids_are_never_reused():
    net = make_net()
    light = net.nodes["light"]
    seen = set()
    for _ in range(3):
        assert ask(light, "switch", {(3342, 0): 1}).code == CREATED
        sid = only(net.model("switch"), 11001)[1][0]
        assert sid not in seen
        seen.add(sid)
        gid = net.authz.grants()[0].id
        assert net.authz.revoke(gid).wait().ok


# -- keys never shown ------------------------------------------------------------

def test_no_key_material_in_logs_or_console(caplog):
    caplog.set_level(logging.DEBUG)
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    out = []
    console = Console(net.server, out.append)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    console.execute("grant sensor switch /3342/0=R")
    console.execute("grants")
    console.execute("policy")
    secrets = []
    for name in ("switch", "sensor", "light"):
        for inst in net.model(name).objects[21].values():
            secrets.extend((inst[0], inst[5]))
    assert len(set(secrets)) == 4          # two grants: two secrets, two salts
    net.model("switch").fail[("create", 11000)] = BAD_REQUEST
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == FORBIDDEN
    console.execute("revoke g1")
    console.execute("revoke g2")
    text = "\n".join(out) + "\n" + caplog.text + "\n".join(
        repr(getattr(r, "args", "")) for r in caplog.records)
    assert "g1 light -> switch /3342/0=R age" in text and "revoked g1" in text
    assert "rolling back" in caplog.text
    for secret in secrets:
        for form in (secret.hex(), secret.hex().upper(), repr(secret), str(list(secret))):
            assert form not in text


# -- console, command line, API --------------------------------------------------

def test_console_grants_grant_revoke_cleanup_policy():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    out = []
    console = Console(net.server, out.append, timeout_ms=200000)
    console.execute("grants")
    assert out == ["(no grants)"]
    del out[:]
    console.execute("grant light switch /3342/0=R /3342/1=rw")
    assert out == ["2.01 Created g1"]
    del out[:]
    console.execute("grant light switch /3342/0=RWE")
    assert out[0].startswith("4.03 Forbidden: policy allows light R on /3342/0")
    del out[:]
    console.execute("grant sensor switch /3342/0=R nocreds")
    assert out[0].startswith("4.03 Forbidden: no account")
    del out[:]
    console.execute("grants")
    assert out == ["g1 light -> switch /3342/0=R,/3342/1=RW age 0s"]
    del out[:]
    console.execute("revoke g1")
    assert out == ["revoked g1"]
    del out[:]
    console.execute("revoke g1")
    assert out == ["error: no grant g1"]
    del out[:]
    console.execute("cleanup")
    assert out == ["cleaned up"]
    del out[:]
    console.execute("policy")
    assert out[0] == "rule 1: light -> switch /3342/0=R,/3342/1=RW"
    del out[:]
    console.execute("policy reload")
    assert out == ["error: the policy did not come from a file"]


def test_console_without_the_service_says_how_to_get_it():
    radio = Radio(seed=1)
    server = Server(None, rand=seeded_rand(1))
    out = []
    Console(server, out.append).execute("grants")
    assert out == ["error: no authorization service: start the server with --policy FILE"]


def test_policy_reload_from_a_file(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(DEMO_POLICY))
    net = make_net()
    net.authz.policy = Policy.load(str(path))
    assert ask(net.nodes["light"], "switch", {(3342, 0): 3}).code == FORBIDDEN
    path.write_text(json.dumps({"rules": [{"requester": "light", "host": "switch",
                                           "allow": {"/3342/0": "RW"}}]}))
    out = []
    Console(net.server, out.append).execute("policy reload")
    assert out == ["rule 1: light -> switch /3342/0=RW"]
    assert ask(net.nodes["light"], "switch", {(3342, 0): 3}).code == CREATED
    path.write_text("{")
    del out[:]
    Console(net.server, out.append).execute("policy reload")
    assert out[0].startswith("error: policy not reloaded:")
    assert net.authz.policy.rules[0].allow == [((3342, 0), 3)]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tools.server", "--bind", "127.0.0.1:0",
                           "--script", "-"] + list(args), cwd=ROOT, input="policy\ngrants\n",
                          capture_output=True, text=True, timeout=60)


def test_cli_policy_option(tmp_path):
    good = tmp_path / "demo.json"
    good.write_text(json.dumps(DEMO_POLICY))
    proc = run_cli("--policy", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "rule 1: light -> switch /3342/0=R" in proc.stdout and "(no grants)" in proc.stdout
    toml = tmp_path / "demo.toml"
    toml.write_text('[[rules]]\nrequester = "light"\nhost = "switch"\n'
                    'allow = { "/3342/0" = "R" }\n')
    proc = run_cli("--policy", str(toml))
    assert proc.returncode == 0 and "rule 1: light -> switch /3342/0=R" in proc.stdout
    for content in ("{", '{"rules": [{"requester": "light"}]}',
                    '{"rules": [{"requester": "a", "host": "b", "allow": {"/3342/0": "X"}}]}'):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        proc = run_cli("--policy", str(bad))
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("server: error: --policy: ")
        assert proc.stderr.count("\n") == 1
    proc = run_cli("--policy", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = run_cli()
    assert proc.returncode == 1 and "start the server with --policy" in proc.stdout


# -- the policy file ------------------------------------------------------------

def test_policy_rules_globs_and_union():
    p = Policy.from_data({"rules": [
        {"requester": "light-*", "host": "switch", "allow": {"/3342/0": "R"}},
        {"requester": "light-1", "host": "sw*", "allow": {"/3342": "w", "*": 16}},
        {"requester": "*", "host": "*", "allow": {"/3": 1}, "lifetime": 300},
        {"requester": "light-1", "host": "switch", "allow": {"/3303/0": 1}, "lifetime": 60},
    ]})
    assert p.allowed("light-1", "switch", (3342, 0)) == 1 | 2 | 16
    assert p.allowed("light-2", "switch", (3342, 0)) == 1
    assert p.allowed("light-2", "switch", (3342, 1)) == 0
    assert p.allowed("light-1", "switch", (3342,)) == 2 | 16
    assert p.allowed("light-1", "switch", (11000,)) == 0        # "*" never covers them
    assert p.allowed("Light-1", "switch", (3342, 0)) == 0       # case-sensitive
    assert p.allowed("x", "y", (3, 0)) == 1
    assert p.refusal("light-2", "switch", {(3342, 0): 1}) is None
    assert "asked RW" in p.refusal("light-2", "switch", {(3342, 0): 3})
    assert p.refusal("x", "x", {(3, 0): 1})
    assert p.lifetime("light-1", "switch") == 60
    assert p.lifetime("light-2", "switch") == 300
    assert Policy().refusal("a", "b", {(3, 0): 1}) and Policy().describe()[0].startswith("(no")


@pytest.mark.parametrize("data,why", [
    ([], "object"),
    ({"rule": []}, "unknown key"),
    ({"rules": {}}, "list"),
    ({"rules": [{"requester": "a", "host": "b"}]}, "missing 'allow'"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {}}]}, "allow"),
    ({"rules": [{"requester": "", "host": "b", "allow": {"/3/0": 1}}]}, "requester"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"3/0": 1}}]}, "not /O"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0/1": 1}}]}, "not /O"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/21": 1}}]}, "never"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0": 0}}]}, "1..31"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0": 32}}]}, "1..31"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0": "RX"}}]}, "R W E D C"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0": True}}]}, "bits"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0": 1}, "lifetime": -1}]},
     "lifetime"),
    ({"rules": [{"requester": "a", "host": "b", "allow": {"/3/0": 1}, "hosts": "c"}]},
     "unknown key"),
    ({"rules": [], "version": 2}, "version"),
])
def test_bad_policies_are_refused_with_a_reason(data, why):
    with pytest.raises(PolicyError) as e:
        Policy.from_data(data)
    assert why in str(e.value) and "\n" not in str(e.value)


def test_bits_letters():
    assert parse_bits("rwedc") == 31 and parse_bits("CR") == 17 and parse_bits(4) == 4
    assert bits_text(17) == "RC" and bits_text(0) == "-"


def test_key_material_never_prints_itself():
    keys = grants_module.KeyMaterial(seeded_rand(4))
    assert len(keys.secret) == 16 and len(keys.salt) == 8 and len(keys.id_context) == 4
    assert keys.secret.hex() not in repr(keys) and "hidden" in repr(keys)


# -- the command-line server over loopback UDP ----------------------------------------

class UdpNode:
    """A stand-in client with a DataModel on a real UDP socket, registered
    over OSCORE; run by a thread. `ac` (optional): a grant map to ask /ac for
    once registered (retried while the host is not registered yet)."""

    def __init__(self, server_port, ep, ctx, payload, ac=None, host=None):
        import threading
        from coap.endpoint import Endpoint
        from coap.client import Client
        from oscore.secure import SecureHandler
        from transport.udp import UdpTransport
        from transport.runner import Runner, now_ms
        self.transport = UdpTransport(("127.0.0.1", 0))
        self.endpoint = Endpoint(self.transport)
        self.client = Client(self.endpoint)
        self.runner = Runner(self.transport, self.endpoint)
        self.model = DataModel(name=ep)
        self.model.objects[1][0] = {0: SSID, 1: 3600, 6: False, 7: "U"}

        def handler(request, peer, t):
            if self.model.owns(request):
                return self.model.handle(request)
            return Message(code=132)
        self.endpoint.handler = SecureHandler(handler, [ctx]).handle
        self.protection = Protection(ctx)
        self.server = ("127.0.0.1", server_port)
        self.ep, self.payload, self.ac, self.host = ep, payload, ac, host
        self.now_ms = now_ms
        self.answers = []
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _call(self, path, query, payload, cf):
        msg = Message(CON, POST, payload=payload)
        msg.set_path(path)
        for q in query:
            msg.add(URI_QUERY, q)
        msg.add(CONTENT_FORMAT, cf)
        box = []
        self.client.request(self.server, msg, lambda r, e: box.append(r), self.now_ms(),
                            security=self.protection)
        self.runner.run(lambda: box or self.stop, 30000)
        return box[0] if box else None

    def _loop(self):
        import time
        for _ in range(50):                 # until the server is up
            r = self._call("/rd", ["ep=" + self.ep, "lt=60", "lwm2m=1.1", "b=U"],
                           self.payload, LINK_FORMAT)
            if r is not None and r.code == CREATED or self.stop:
                break
            time.sleep(0.1)
        if self.ac is not None:
            for _ in range(50):
                r = self._call("/ac", ["ep=" + self.host, "c"], cbor.dumps(self.ac), CBOR)
                self.answers.append(None if r is None else r.code)
                if r is None or r.code != BAD_REQUEST or self.stop:
                    break
                time.sleep(0.1)                 # the host has not registered yet
        self.runner.run(lambda: self.stop, 60000)

    def close(self):
        self.stop = True
        self.thread.join(10)
        self.transport.close()


def test_cli_grant_and_revoke_over_loopback_udp_with_oscore(tmp_path):
    from host_tests.cpython.procs import free_port
    port = free_port()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(DEMO_POLICY))
    script = tmp_path / "session.txt"
    script.write_text("wait light 10\nwait switch 10\nsleep 1\ngrants\nrevoke g1\ngrants\n")
    secrets = {"light": "11" * 16, "switch": "22" * 16}
    specs = []
    nodes = []
    for i, ep in enumerate(("light", "switch")):
        s_id, r_id = server_ids(i)
        specs += ["--oscore", "%s:%s:%s:%s" % (secrets[ep], "5a5a", s_id.hex(), r_id.hex())]
        ctx = SecurityContext(bytes.fromhex(secrets[ep]), r_id, s_id, b"\x5a\x5a")
        nodes.append(UdpNode(port, ep, ctx, PAYLOADS[ep],
                             ac={(3342, 0): 1} if ep == "light" else None, host="switch"))
    proc = subprocess.Popen([sys.executable, "-m", "tools.server", "--bind",
                             "127.0.0.1:%d" % port, "--policy", str(policy), "--log", "debug",
                             "--state", str(tmp_path / "state.json"), "--script", str(script),
                             "--timeout", "20"] + specs,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for node in nodes:
        node.thread.start()
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        for node in nodes:
            node.stop = True
        for node in nodes:
            node.close()
    assert proc.returncode == 0, out + err
    light, switch = nodes
    assert light.answers[-1] == CREATED
    assert "> grants\ng1 light -> switch /3342/0=R age" in out
    assert "> revoke g1\nrevoked g1\n> grants\n(no grants)" in out
    created = [op.path[0] for op in switch.model.done("create")]
    assert created == [11001, 21, 11000, 11002]
    assert [op.path[0] for op in light.model.done("create")] == [11001, 21, 11000]
    keys = [op.values for op in switch.model.done("create") if op.path[0] == 21][0]
    assert switch.model.objects[21] == {} and light.model.objects[11000] == {}
    assert "grant g1: light -> switch" in err                 # the debug log ran
    for secret in (keys[0], keys[5]):
        assert secret.hex() not in out + err and secret.hex().upper() not in out + err
        assert repr(secret) not in out + err


def test_records_survive_a_restart_without_keys(tmp_path):
    import os
    import stat
    path = str(tmp_path / "grants.json")
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY, records=path)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    for model in (net.model("switch"), net.model("light")):
        for inst in model.objects[21].values():
            assert inst[0].hex() not in text and inst[5].hex() not in text
    before = net.authz.lines()
    ids = set(net.authz.book.node("switch").ids)
    # a new service on the same server (as after a restart) reads them back
    net.server.routes.pop("ac")
    again = Authz(net.server, Policy.from_data(WIDE_POLICY), rand=seeded_rand(99),
                  records=path)
    assert again.lines() == before
    assert again.book.node("switch").ids == ids
    assert ask(net.nodes["sensor"], "switch", {(3342, 0): 1}).code == CREATED
    held = set()
    for inst in net.model("switch").objects[21].values():
        assert not {inst[1], inst[2]} & held
        held.update((inst[1], inst[2]))
    assert again.revoke("g1").wait().ok
    assert {acc[9] for acc in net.model("switch").objects[11001].values()} == {"sensor"}
    assert net.objects("light") == {}
    (tmp_path / "bad.json").write_text('{"version": 1}')
    with pytest.raises(ValueError):
        Authz(net.server, records=str(tmp_path / "bad.json"))


def test_cli_grants_file_needs_policy_and_must_be_readable(tmp_path):
    bad = tmp_path / "grants.json"
    bad.write_text("[1, 2]")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(DEMO_POLICY))
    proc = run_cli("--grants", str(bad))
    assert proc.returncode == 2 and proc.stderr == "server: error: --grants needs --policy\n"
    proc = run_cli("--policy", str(policy), "--grants", str(bad))
    assert proc.returncode == 2 and proc.stderr.startswith("server: error: --grants: ")
    proc = run_cli("--policy", str(policy), "--grants", str(tmp_path / "new.json"))
    assert proc.returncode == 0 and "(no grants)" in proc.stdout


def test_the_demo_policy_file():
    import os
    policy = Policy.load(os.path.join(ROOT, "tools", "server", "demo_policy.json"))
    assert policy.describe() == ["rule 1: light -> switch /3342/0=R"]
    assert policy.refusal("light", "switch", {(3342, 0): 1}) is None
    assert policy.refusal("light", "switch", {(3342, 0): 2})
    assert policy.refusal("switch", "light", {(3311, 0): 1})


# -- lost answers -------------------------------------------------------------------------------------

def decided(net, count, limit_ms=600000):
    """Run until the service has answered `count` /ac requests in all (a
    lost answer costs the server MAX_TRANSMIT_WAIT, 93 s -- as long as the
    requester waits for its separate response, so it may give up first)."""
    net.radio.run_while(lambda: len(net.authz.decisions) < count, limit_ms)
    return net.authz.decisions[-1]


def test_a_lost_create_answer_is_retried_and_read_back():
    net = make_net()
    switch = net.model("switch")
    switch.mute[("create", 11000)] = 1          # made, but the answer never comes
    ask_later(net.nodes["light"], "switch", {(3342, 0): 1})
    assert decided(net, 1).code == CREATED
    kinds = [(op.kind, op.path[:2], op.code) for op in switch.ops if op.path[0] == 11000]
    assert kinds == [("create", (11000, 0), CREATED), ("create", (11000,), BAD_REQUEST),
                     ("read", (11000, 0), CONTENT)]
    for name in ("switch", "light"):
        for oid in (11000, 11001, 21):
            assert len(net.model(name).objects[oid]) == 1
    assert net.authz.book.cleanups == []


def test_a_lost_answer_to_someone_elses_instance_is_not_taken_nor_deleted():
    net = make_net()
    switch = net.model("switch")
    original = switch.handle
    foreign = {0: 99, 1: 0, 6: False, 7: "U", 9: "somebody"}

    def handle(request):                # the Create is lost; meanwhile 11001/0 appears
        if request.path() == ["11001"] and 0 not in switch.objects[11001]:
            switch.objects[11001][0] = dict(foreign)
            return None
        return original(request)
    switch.handle = handle
    ask_later(net.nodes["light"], "switch", {(3342, 0): 1})
    decision = decided(net, 1)
    assert decision.code == FORBIDDEN and "create /11001 on switch: 4.00" in decision.reason
    assert switch.objects[11001] == {0: foreign}          # not ours: left alone
    assert net.objects("light") == {} and net.authz.book.cleanups == []
    assert [op.kind for op in switch.ops if op.path[0] == 11001] == ["create", "read"]


def test_a_timed_out_write_is_sent_again():
    net = make_net(names=("light", "switch", "sensor"), policy=WIDE_POLICY)
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    switch = net.model("switch")
    switch.mute[("write", 11002)] = 1
    ask_later(net.nodes["sensor"], "switch", {(3342, 0): 1})
    assert decided(net, 2).code == CREATED
    writes = [op for op in switch.ops if op.kind == "write"]
    assert len(writes) == 2 and writes[0].values == writes[1].values
    assert len(only(switch, 11002)[1][2]) == 2


def test_a_requester_gone_mid_way_rolls_back_the_host_and_is_cleaned_when_back():
    net = make_net()
    light = net.model("light")
    original = light.handle

    def handle(request):                # the light's registration ends after its 11001
        response = original(request)
        if request.path() == ["11001"]:
            net.server.deregister("light")
        return response
    light.handle = handle
    ask_later(net.nodes["light"], "switch", {(3342, 0): 1})
    decision = decided(net, 1)
    assert decision.code == FORBIDDEN and "not registered" in decision.reason
    net.radio.run_for(2000)
    assert net.objects("switch") == {}                  # the host is rolled back
    assert [(c.endpoint, c.target) for c in net.authz.book.cleanups] == [("light", (11001, 0))]
    light.handle = original
    assert net.nodes["light"].register("light", lt=86400, payload=PAYLOADS["light"]).code \
        == CREATED
    net.radio.run_for(2000)
    assert net.objects("light") == {} and net.authz.book.cleanups == []


def test_a_node_that_moves_gets_its_new_uri_into_its_peers_accounts():
    net = make_net()
    assert ask(net.nodes["light"], "switch", {(3342, 0): 1}).code == CREATED
    old = net.nodes["light"]
    net.radio.link("light2", "server", delay_ms=5)
    moved = StandIn(net.radio, ("light2", 5683), seed=77, oscore=old.oscore, model=old.model)
    assert moved.update(location=old.location).code == CHANGED     # same context, new address
    net.radio.run_for(2000)
    _, sec = only(net.model("switch"), 11000)
    assert sec[0] == "coap://light2:5683"
    write = [op for op in net.model("switch").ops if op.kind == "write"][-1]
    assert write.path == (11000, 0, 0) and write.secure
    assert net.model("light").objects[11000][0][0] == "coap://switch:5683"   # unchanged
