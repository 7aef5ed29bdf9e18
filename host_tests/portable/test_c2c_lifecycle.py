"""Lifecycle of C2C grants on the fake radio (docs c2c-extension.md, "Ours --
lifecycle"): revocation, re-grant, 11001 Lifetime expiry in virtual time,
Disable, reboots of either side (mid-flow and after the grant), and 30% loss
on every link with nothing provisioned twice."""
from coap.numbers import GET, POST, PUT, DELETE, CONTENT, CHANGED, DELETED, UNAUTHORIZED, TEXT_PLAIN
from host_tests.support.c2c_world import World, HOST, REQ, HOST_EP, REQ_EP

ALL = [(HOST_EP, 11001), (HOST_EP, 21), (HOST_EP, 11000), (HOST_EP, 11002),
       (REQ_EP, 11001), (REQ_EP, 21), (REQ_EP, 11000)]


def codes(got):
    return [(r.code if r is not None else None) for r, e in got]


def peer_observations(node):
    return [o for o in node.reporting.observations if isinstance(o.key, str)]


def observe(w):
    got, op = w.ask(GET, "/3342/0/5500", observe=True)
    assert codes(got) == [CONTENT]
    assert len(peer_observations(w.host)) == 1
    return got, op


def test_revocation_ends_the_observation_and_denies():
    w = World()
    got, op = observe(w)
    contexts = len(w.host.callers.secure.contexts)
    assert contexts == 2
    assert w.srv.revoke(REQ_EP, HOST_EP) == [DELETED] * 7
    # the host ended the observation with a last 4.01 and dropped the context
    assert peer_observations(w.host) == []
    assert len(w.host.callers.secure.contexts) == 1
    w.radio.run_for(1000)
    assert got[-1][0].code == UNAUTHORIZED
    assert got[-1][1] == "unauthorized: the peer ended the observation"
    assert w.peers_of(w.host) == [] and w.peers_of(w.req) == []
    w.toggle()
    assert len(got) == 2
    # further requests: refused by the policy now, nothing provisioned again
    del w.srv.policy[(REQ_EP, HOST_EP)]
    got, op = w.ask(GET, "/3342/0/5500")
    assert got[0][1] == "/ac refused: 4.03" and len(w.srv.creates) == 7
    assert w.host.model.get(11002).instances == {}


def test_regrant_after_revocation():
    w = World()
    observe(w)
    w.srv.revoke(REQ_EP, HOST_EP)
    got, op = observe(w)
    assert len(w.srv.ac) == 2 and sorted(w.srv.creates) == sorted(ALL + ALL)
    w.toggle()
    assert [bytes(r.payload) for r, e in got] == [b"0", b"1"]


def test_host_forgets_the_peer_but_the_requester_keeps_its_context():
    w = World()
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    grant = w.srv.grants[(REQ_EP, HOST_EP)]
    for oid in (11000, 11001, 21):
        assert w.srv.call_to(HOST_EP, DELETE, "/%d/%d" % (oid, grant["host"][oid])).code == DELETED
    # the protected request cannot be verified any more ("Security context not
    # found"): the requester probes plainly, gets the hint, asks with `c`
    got, op = w.ask(GET, "/9999/0/0")
    assert codes(got) == [CONTENT] and bytes(got[0][0].payload) == b"lamp"
    assert [q for r, q, g, c in w.srv.ac] == [{"ep": HOST_EP, "c": ""}] * 2
    assert len(w.peers_of(w.req)) == 2               # the stale account and the new one
    assert len(w.peers_of(w.host)) == 1


def test_lifetime_expiry_removes_the_account_and_its_observation():
    w = World(lifetime=60)
    got, op = observe(w)
    t0 = w.radio.now_ms
    w.radio.run_until(t0 + 55000)
    assert w.peers_of(w.host) != [] and len(peer_observations(w.host)) == 1
    w.radio.run_until(t0 + 62000)
    assert w.peers_of(w.host) == [] and peer_observations(w.host) == []
    assert w.peers_of(w.req) == []
    assert w.instances(w.host, 21) == [0] and w.instances(w.req, 21) == [0]
    assert all(not inst.get(2) for inst in w.host.model.get(11002).instances.values())
    assert got[-1][0].code == UNAUTHORIZED
    # asking again goes through the whole flow again
    got, op = w.ask(GET, "/3342/0/5500")
    assert codes(got) == [CONTENT] and len(w.srv.ac) == 2


def test_lifetime_is_not_restarted_by_a_reboot():
    w = World(lifetime=80)
    observe(w)
    t0 = w.radio.now_ms
    w.radio.run_until(t0 + 50000)
    w.reboot(HOST)
    w.radio.run_until(t0 + 70000)
    assert w.peers_of(w.host) != []
    w.radio.run_until(t0 + 95000)                     # 80 s + one checkpoint period
    assert w.peers_of(w.host) == []


def test_disable_refuses_the_peer_for_its_timeout():
    w = World()
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    cli = w.srv.grants[(REQ_EP, HOST_EP)]["host"][11001]
    assert w.srv.call_to(HOST_EP, PUT, "/11001/%d/5" % cli, b"30", TEXT_PLAIN).code == CHANGED
    assert w.srv.call_to(HOST_EP, POST, "/11001/%d/4" % cli).code == CHANGED
    got, op = w.ask(GET, "/9999/0/0", authorize=False)
    assert got[0][1] == "unauthorized"
    w.radio.run_for(31000)
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT] and len(w.srv.ac) == 1


def test_deleting_an_instance_drops_its_access_control():
    w = World()
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    aco = w.host.model.get(11002)
    assert aco.find(9999, 0) is not None
    assert w.srv.call_to(HOST_EP, DELETE, "/9999/0").code == DELETED
    assert aco.find(9999, 0) is None
    w.thing.create(0, {0: "new", 1: 1})
    got, op = w.ask(GET, "/9999/0/0", authorize=False)
    assert got[0][1] == "unauthorized"


def test_30_percent_loss_on_every_link():
    for seed in (2, 3):
        w = World(seed=seed, loss=0.3)
        got, op = w.ask(GET, "/3342/0/5500", observe=True, limit_ms=600000)
        assert codes(got) == [CONTENT], (seed, got)
        assert sorted(w.srv.creates) == sorted(ALL) and len(w.srv.ac) == 1
        for node, counts in ((w.host, (2, 1, 1, 1)), (w.req, (2, 1, 1, 0))):
            assert tuple(len(node.model.get(oid).instances)
                         for oid in (21, 11000, 11001, 11002)) == counts
        assert w.radio.total.lost > 0


def test_requester_reboots_mid_flow():
    w = World()
    got, op = w.ask(GET, "/9999/0/0", until=lambda: len(w.srv.creates) >= 5)
    w.reboot(REQ)
    w.radio.run_for(60000)
    assert got == [] and sorted(w.srv.creates) == sorted(ALL)
    # the application asks again after the restart: the grant is there
    got, op = w.ask(GET, "/9999/0/0")
    assert codes(got) == [CONTENT] and len(w.srv.ac) == 1 and len(w.srv.creates) == 7


def test_host_reboots_mid_flow():
    w = World()
    got, op = w.ask(GET, "/9999/0/0", until=lambda: len(w.srv.creates) >= 3)
    w.reboot(HOST)
    w.radio.run_while(lambda: not got, 300000)
    assert codes(got) == [CONTENT] and bytes(got[0][0].payload) == b"lamp"
    assert sorted(w.srv.creates) == sorted(ALL)


def test_reboots_after_the_grant():
    w = World()
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    # host: the peer's replay window is unsynchronised -> 4.01 + Echo, retried
    w.reboot(HOST)
    w.registered()
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    assert w.host.callers.secure.challenges == 1
    # requester: sequence numbers go on above the ones used before
    used = w.req.oscore_context(w.req.c2c.peers.by_endpoint(HOST_EP).oscore_iid).ssn
    w.reboot(REQ)
    w.registered()
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    ctx = w.req.oscore_context(w.req.c2c.peers.by_endpoint(HOST_EP).oscore_iid)
    assert ctx.ssn > used + 1
    assert len(w.srv.ac) == 1 and len(w.srv.creates) == 7


def test_lost_2_01_to_ac_still_retries_with_the_new_credentials():
    w = World()
    w.srv.endpoint.send_response = lambda *a, **kw: None     # the 2.01 never comes
    got, op = w.ask(GET, "/9999/0/0")
    assert codes(got) == [CONTENT] and sorted(w.srv.creates) == sorted(ALL)
    assert len(w.srv.ac) == 1
