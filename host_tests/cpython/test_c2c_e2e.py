"""C2C end to end on loopback: the reference server with /ac in this
process (tools/loopback.Hub), a switch and a light on the unix-port
MicroPython (firmware/main.py, config "c2c" / "follow"), all traffic
through a recording NAT (tools/udpnat.py). Every step of the third-party
authorization is asserted, from the server's records, the nodes' event
lines and the datagrams: the direct traffic after the grant is
OSCORE-protected (no Uri-Path, no plaintext payload). Then `make demo` in
its quick mode must pass as a whole."""
import json
import os
import subprocess
import sys
import time

import pytest

from tools.loopback import Hub, NodeProc, MICROPYTHON, ROOT
from tools.udpnat import Nat
from tools.server.policy import Policy
from host_tests.cpython.procs import free_port
import cbor
from coap.message import decode
from coap.numbers import (OSCORE, URI_PATH, URI_QUERY, OBSERVE, CBOR, GET, FETCH, CONTENT,
                          UNAUTHORIZED)

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")
WAIT_MS = 10000
POLICY = {"rules": [{"requester": "light", "host": "switch", "allow": {"/3342/0": "R"}}]}
PERIOD_MS = 300


@pytest.fixture
def lab(tmp_path):
    """(hub, nat, start) -- start(name, config) launches a node behind the NAT."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    hub = Hub.start(policy=Policy.load(str(policy)))
    hub.policy_file = str(policy)
    nat = hub.add(Nat(hub.address))
    nodes = []

    def start(name, conf):
        port = free_port()
        nat.add(name, ("127.0.0.1", port))
        ctx, spec = hub.oscore_client()
        path = tmp_path / (name + ".json")
        path.write_text(json.dumps(dict({"temperature": [], "switch": None, "light": None},
                                        **conf)))
        node = NodeProc(name, nat.server_uri(), spec, str(path), str(tmp_path / name),
                        ["--bind", "127.0.0.1:%d" % port])
        node.ctx = ctx
        nodes.append(node)
        return node
    yield hub, nat, start
    for node in nodes:
        node.stop(hub, 3000)
    hub.close()


def follows(switch, light, since_ns, source, n):
    """Latencies (ms) of the first n toggles after since_ns that the light
    followed from `source`, each matched with the same value after it."""
    toggles = switch.events("switch", since_ns)[:n]
    lights = light.events("light", since_ns, source=source)
    out = []
    for i, s in enumerate(toggles):
        nxt = toggles[i + 1]["t_ns"] if i + 1 < len(toggles) else time.time_ns()
        got = [e for e in lights if s["t_ns"] <= e["t_ns"] < nxt and e["value"] == s["value"]]
        if got:
            out.append((got[0]["t_ns"] - s["t_ns"]) / 1e6)
    return out


def test_light_follows_switch_directly_over_oscore(lab):
    hub, nat, start = lab
    server, authz = hub.server, hub.server.authz
    switch = start("switch", {"switch": {"kind": "sim", "period_ms": PERIOD_MS},
                              "c2c": {"allow_nosec": False}})
    assert hub.run(lambda: server.registry.by_endpoint("switch"), WAIT_MS), switch.lines
    light = start("light", {"light": {"kind": "sim"}, "follow": {
        "endpoint": "switch", "path": "/3342/0/5500", "target": "/3311/0/5850",
        "address": nat.uri("switch"), "retry_ms": 500}})
    # 1. both registered over their own OSCORE context, from their NAT address
    assert hub.run(lambda: light.events("c2c-observing"), WAIT_MS), light.lines
    for node in (switch, light):
        reg = server.registry.by_endpoint(node.name)
        assert reg.security is node.ctx
        assert reg.peer == nat.public[node.name].getsockname()
    # 2. the first direct request: in the clear, answered 4.01 + {1: server URI}
    first = decode(nat.between("light", "switch")[0].data)
    assert first.code == GET and first.observe == 0 and not first.has(OSCORE)
    assert first.path() == ["3342", "0", "5500"]
    answer = decode(nat.between("switch", "light")[0].data)
    assert answer.code == UNAUTHORIZED and answer.content_format == CBOR
    assert cbor.loads(bytes(answer.payload)) == {1: nat.server_uri()}
    assert switch.events("c2c-refused")[0]["hint"] == nat.server_uri()
    # 3./4. /ac from the light, both provisioned, 2.01
    kinds = [e["kind"] for e in light.events() if e["kind"].startswith("c2c")]
    assert kinds == ["c2c-send", "c2c-denied", "c2c-ac", "c2c-ac-answer", "c2c-send",
                     "c2c-observing"]
    assert [e["mode"] for e in light.events("c2c-send")] == ["plain", "oscore"]
    assert light.events("c2c-ac-answer")[0]["code"] == "2.01"
    (grant,) = authz.grants()
    assert (grant.requester, grant.host, grant.rights) == ("light", "switch", {(3342, 0): 1})
    assert sorted(authz.book.node("switch").iids) == [21, 11000, 11001, 11002]
    assert sorted(authz.book.node("light").iids) == [21, 11000, 11001]
    # 5. three toggles followed directly
    since = light.events("c2c-observing")[0]["t_ns"]
    assert hub.run(lambda: len(follows(switch, light, since, "c2c", 3)) == 3,
                   5 * PERIOD_MS + WAIT_MS)
    assert all(ms < 500 for ms in follows(switch, light, since, "c2c", 3))
    # ... OSCORE on the wire: no Uri-Path, no plaintext, outer codes only
    granted = light.events("c2c-ac-answer")[0]["t_ns"]
    out = nat.between("light", "switch", granted)
    back = nat.between("switch", "light", granted)
    assert out and len(back) >= 4
    for d in out + back:
        msg = decode(d.data)
        assert msg.has(OSCORE) and not msg.has(URI_PATH) and not msg.has(URI_QUERY), msg
        assert {o[0] for o in msg.options} <= {OSCORE, OBSERVE}, msg.options
    req = decode(out[0].data)
    assert req.code == FETCH and b"5500" not in out[0].data      # Observe goes as FETCH
    assert all(decode(d.data).code == CONTENT and len(decode(d.data).payload) >= 9
               for d in back)                                    # ciphertext + 8-byte tag
    # 6. server-centric: the server observes the switch and writes the light
    dev_switch, dev_light = server.device("switch"), server.device("light")
    obs = dev_switch.observe("/3342/0/5500", on_notify=lambda r: server.defer(
        lambda v=r.value: dev_light.write("/3311/0/5850", v)))
    assert obs.wait(WAIT_MS).ok
    since = time.time_ns()
    assert hub.run(lambda: len(follows(switch, light, since, "write", 2)) == 2,
                   4 * PERIOD_MS + WAIT_MS)
    assert dev_switch.cancel_observation("/3342/0/5500").wait(WAIT_MS).ok
    # 7. rule withdrawn, grant revoked: 4.01 ends the observation, retry refused
    with open(hub.policy_file, "w") as f:
        json.dump({"rules": []}, f)
    authz.load_policy(hub.policy_file)
    t0 = time.time_ns()
    assert authz.revoke(grant.id).wait(WAIT_MS).ok and authz.grants() == []
    assert hub.run(lambda: light.events("c2c-end", t0, code="4.03"), WAIT_MS), light.lines
    ends = light.events("c2c-end", t0)
    assert ends[0]["code"] == "4.01" and "ended the observation" in ends[0]["reason"]
    assert light.events("c2c-denied", t0) and switch.events("c2c-refused", t0)
    assert authz.book.node("light").iids.get(11000) in (None, set())
    last = time.time_ns()
    assert hub.run(lambda: switch.events("switch", last), 2 * PERIOD_MS + WAIT_MS)
    hub.run(None, 200)
    assert light.events("light", last, source="c2c") == []
    # SIGINT: both de-register; no key material anywhere in their output
    gone = []
    server.on_event(lambda kind, reg, info: gone.append(reg.endpoint)
                    if kind == "deregistered" else None)
    assert light.stop(hub) == 0 and switch.stop(hub) == 0
    assert sorted(gone) == ["light", "switch"]
    secrets = [c.master_secret.hex() for c in hub.contexts]
    assert not any(s in line for n in (switch, light) for line in n.lines for s in secrets)


def test_make_demo_quick_mode():
    p = subprocess.run([sys.executable, "tools/demo.py", "--toggles", "2", "--period-ms", "300"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Summary: 8 of 8 steps as stated" in p.stdout
    assert "FAIL" not in p.stdout
