"""The CoAP stack on the fake radio: loss, duplication, reordering, blocks."""
from tools.sim.radio import Radio
from coap.endpoint import Endpoint, TIMEOUT
from coap.client import Client
from coap.server import Site, reply
from coap.message import Message
from coap.numbers import CON, GET, PUT, CONTENT, CHANGED, TEXT_PLAIN

CLIENT = ("c", 5683)
SERVER = ("s", 5683)


class Store:
    observable = True

    def __init__(self):
        self.data = b"0"
        self.puts = 0

    def get(self, request):
        return reply(CONTENT, self.data, TEXT_PLAIN)

    def put(self, request):
        self.puts += 1
        self.data = bytes(request.payload)
        return reply(CHANGED)


def network(seed=1, **link):
    radio = Radio(seed=seed)
    radio.link("c", "s", **link)
    client_ep = Endpoint(None, rand=_rng_bytes(seed))
    server_ep = Endpoint(None, rand=_rng_bytes(seed + 100), dedup_size=512)
    client_ep.transport = radio.attach(CLIENT, client_ep)
    server_ep.transport = radio.attach(SERVER, server_ep)
    site = Site(server_ep)
    store = Store()
    site.add("r", store)
    return radio, Client(client_ep), site, store


def _rng_bytes(seed):
    """Deterministic stand-in for os.urandom, so runs repeat exactly."""
    from tools.sim.radio import Rng
    rng = Rng(seed)

    def rand(n):
        return bytes(rng.next() & 0xFF for _ in range(n))
    return rand


def put(value):
    return Message(CON, PUT, payload=value).set_path("/r")


def test_con_exchanges_complete_under_30_percent_loss_each_executed_once():
    radio, client, site, store = network(seed=7, delay_ms=5, loss=0.3)
    outcomes = []
    for i in range(60):
        done = []
        client.request(SERVER, put(b"%d" % i), lambda r, e: done.append((r, e)), radio.now_ms)
        radio.wake(CLIENT)
        assert radio.run_while(lambda: not done, 100000)
        outcomes.append(done[0])
    ok = [r for r, e in outcomes if r is not None and r.code == CHANGED]
    timeouts = [e for r, e in outcomes if r is None]
    # P(5 attempts all fail) = (1 - 0.7 * 0.7) ** 5 = 3.4 %: nearly all complete
    assert len(ok) >= 54 and len(ok) + len(timeouts) == 60
    assert all(e == TIMEOUT for e in timeouts)
    assert client.endpoint.retransmissions > 10          # loss really happened
    # at-most-once: a PUT retransmitted after a lost response was not re-executed
    assert store.puts <= 60
    assert site.endpoint.duplicates > 0


def test_duplicated_datagrams_are_answered_from_cache():
    radio, client, site, store = network(seed=3, delay_ms=5, duplicate=0.5)
    results = []
    for i in range(20):
        client.request(SERVER, put(b"%d" % i), lambda r, e: results.append(r.code), radio.now_ms)
        radio.wake(CLIENT)
        radio.run_while(lambda: len(results) <= i, 60000)
    assert results == [CHANGED] * 20
    assert store.puts == 20
    assert site.endpoint.duplicates > 3


def test_reordered_notifications_are_discarded():
    radio, client, site, store = network(seed=11, delay_ms=5, reorder_ms=200)
    seen = []
    op = client.request(SERVER, Message(CON, GET).set_path("/r"),
                        lambda r, e: seen.append(int(bytes(r.payload))), 0, observe=True)
    radio.run_for(100)
    for i in range(1, 60):
        store.data = b"%d" % i
        site.changed("r", radio.now_ms)
        radio.wake(SERVER)
        radio.run_for(20)
    radio.run_for(1000)
    op.cancel()
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert len(seen) < 60                                 # some arrived late: dropped
    assert len(seen) > 20


def test_blockwise_both_directions_over_lossy_link():
    radio, client, site, store = network(seed=5, delay_ms=3, loss=0.1)
    body = bytes(range(256)) * 12
    got = []
    client.request(SERVER, put(body), lambda r, e: got.append((r, e)), 0)
    radio.run_while(lambda: not got, 300000)
    assert got[0][0].code == CHANGED and store.data == body
    got = []
    client.request(SERVER, Message(CON, GET).set_path("/r"),
                   lambda r, e: got.append(bytes(r.payload)), radio.now_ms)
    radio.wake(CLIENT)
    radio.run_while(lambda: not got, 300000)
    assert got == [body]


def test_same_seed_same_traffic():
    logs = []
    for _ in range(2):
        radio, client, site, store = network(seed=9, delay_ms=4, loss=0.2)
        for i in range(10):
            client.request(SERVER, put(b"%d" % i), lambda r, e: None, radio.now_ms)
            radio.wake(CLIENT)
            radio.run_for(30000)
        logs.append([(f.t_ms, f.fate, f.data) for f in radio.log])
    assert logs[0] == logs[1] and len(logs[0]) > 20
