"""Property tests for lwm2m.formats (CPython only): random records round-trip
through every multi-value format, random and mutated bytes into every decoder
raise only FormatError or UnknownPath, and cross-checks of the float text,
the JSON reader and the CBOR output against CPython's json/repr and cbor2."""
import json
import math
import struct

import cbor2
from hypothesis import given, settings, assume
from hypothesis import strategies as st

from lwm2m.formats import text, opaque, tlv, senml_json, senml_cbor, lwm2m_cbor, link
from lwm2m.formats import types as T
from lwm2m.formats.types import FormatError, UnknownPath
from lwm2m.formats.numtext import float_text, parse_float
from host_tests.portable.test_lwm2m_formats import same

VALUE_TYPES = (T.STRING, T.INTEGER, T.UNSIGNED, T.FLOAT, T.BOOLEAN, T.OPAQUE,
               T.TIME, T.OBJLNK, T.CORELNK)
IDS = st.integers(0, 65535) | st.integers(0, 12)
U16 = st.integers(0, 65535)


def values_of(t, finite=True):
    if t in (T.STRING, T.CORELNK):
        return st.text(max_size=20)
    if t in (T.INTEGER, T.TIME):
        return st.integers(-(2 ** 63), 2 ** 63 - 1)
    if t == T.UNSIGNED:
        return st.integers(0, 2 ** 64 - 1)
    if t == T.FLOAT:
        return st.floats(allow_nan=False, allow_infinity=not finite)
    if t == T.BOOLEAN:
        return st.booleans()
    if t == T.OPAQUE:
        return st.binary(max_size=40)
    return st.tuples(U16, U16)


@st.composite
def resources(draw, objects=None, finite=True):
    """(records, schema): resources of random types, single or multiple."""
    schema = {}
    recs = []
    oids = objects or draw(st.lists(IDS, min_size=1, max_size=3, unique=True))
    for oid in oids:
        for iid in draw(st.lists(IDS, min_size=1, max_size=3, unique=True)):
            for rid in draw(st.lists(IDS, min_size=1, max_size=5, unique=True)):
                t = schema.setdefault((oid, rid), draw(st.sampled_from(VALUE_TYPES)))
                if draw(st.booleans()):
                    recs.append(((oid, iid, rid), draw(values_of(t, finite))))
                else:
                    for riid in draw(st.lists(IDS, min_size=1, max_size=3, unique=True)):
                        recs.append(((oid, iid, rid, riid), draw(values_of(t, finite))))
    return recs, schema


def typer(schema):
    return lambda path: schema.get((path[0], path[2]))


def sort(records):
    return sorted(records, key=lambda r: r[0])


@settings(max_examples=200, deadline=None)
@given(resources())
def test_round_trip_senml_and_lwm2m_cbor(data):
    recs, schema = data
    type_of = typer(schema)
    for m in (senml_json, senml_cbor):
        back = m.decode(m.encode(recs, (), type_of), (), type_of)
        assert same(back, recs), m.__name__
    back = lwm2m_cbor.decode(lwm2m_cbor.encode(recs, (), type_of), (), type_of)
    assert same(sort(back), sort(recs))


@settings(max_examples=300, deadline=None)
@given(resources(objects=[3303], finite=False))
def test_round_trip_tlv_and_cbor_keep_infinities(data):
    recs, schema = data
    type_of = typer(schema)
    for m, base in ((tlv, (3303,)), (senml_cbor, (3303,)), (lwm2m_cbor, (3303,)), (senml_cbor, ())):
        back = m.decode(m.encode(recs, base, type_of), base, type_of)
        assert same(sort(back), sort(recs)), m.__name__


@settings(max_examples=200, deadline=None)
@given(resources(objects=[77]), st.data())
def test_round_trip_at_every_depth(data, draw):
    recs, schema = data
    type_of = typer(schema)
    path = draw.draw(st.sampled_from(recs))[0]
    depth = draw.draw(st.integers(1, len(path)))
    base = path[:depth]
    sub = [r for r in recs if r[0][:depth] == base]
    for m in (tlv, senml_json, senml_cbor, lwm2m_cbor):
        back = m.decode(m.encode(sub, base, type_of), base, type_of)
        assert same(sort(back), sort(sub)), (m.__name__, base)
    if len(sub) == 1 and sub[0][0] == base:
        back = text.decode(text.encode(sub, base, type_of), base, type_of)
        assert same(back, sub)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([(3303, 0, 5700), (3303, 1, 5700), (3, 0, 9)]),
                          st.floats(-1e6, 1e6),
                          st.none() | st.integers(-2 ** 40, 2 ** 40) | st.floats(-1e10, 1e10)),
                max_size=8))
def test_senml_times_round_trip(recs):
    recs = [(p, v, None if t == 0 else t) for p, v, t in recs]
    recs = [(p, v if p[0] == 3303 else int(v), t) for p, v, t in recs]

    def type_of(p):
        return T.FLOAT if p[0] == 3303 else T.INTEGER
    for m in (senml_json, senml_cbor):
        back = m.decode(m.encode(recs, (), type_of), (), type_of, timed=True)
        assert len(back) == len(recs)
        for (p, v, t), (q, w, u) in zip(recs, back):
            assert p == q and v == w and type(t) is type(u) and t == u


# ---------------------------------------------------------------- robustness

TYPES_BY_RID = (None, T.NONE) + VALUE_TYPES
BASES = st.sampled_from([(), (3,), (3, 0), (3, 0, 1), (3, 0, 1, 0), (3, 0, 300)])


def any_type(path):
    return TYPES_BY_RID[path[2] % len(TYPES_BY_RID)]


def only_format_errors(fn, *args, **kw):
    try:
        out = fn(*args, **kw)
    except (FormatError, UnknownPath):
        return None
    assert isinstance(out, list)
    return out


DECODERS = (text, opaque, tlv, senml_json, senml_cbor, lwm2m_cbor)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=60), BASES)
def test_random_bytes_only_raise_format_errors(payload, base):
    for m in DECODERS:
        if m in (text, opaque) and len(base) < 3:
            continue
        if m is tlv and not base:
            continue
        only_format_errors(m.decode, payload, base, any_type)
    if len(base) == 1:
        only_format_errors(tlv.decode, payload, base, any_type, new_instance=1)
    only_format_errors(senml_json.decode_paths, payload)
    only_format_errors(senml_cbor.decode_paths, payload)
    only_format_errors(link.decode, payload)


@settings(max_examples=200, deadline=None)
@given(resources(objects=[3]), st.data())
def test_mutated_payloads_only_raise_format_errors(data, draw):
    recs, schema = data
    for m, base in ((tlv, (3,)), (senml_json, ()), (senml_cbor, ()), (lwm2m_cbor, ())):
        good = bytearray(m.encode(recs, base, typer(schema)))
        for _ in range(3):
            op = draw.draw(st.integers(0, 3))
            if op == 0 and good:
                i = draw.draw(st.integers(0, len(good) - 1))
                good[i] = draw.draw(st.integers(0, 255))
            elif op == 1 and good:
                del good[draw.draw(st.integers(0, len(good) - 1)):]
            elif op == 2:
                i = draw.draw(st.integers(0, len(good)))
                good[i:i] = draw.draw(st.binary(min_size=1, max_size=3))
            for type_of in (typer(schema), any_type):
                only_format_errors(m.decode, bytes(good), base, type_of)


JSONISH = st.text(alphabet='[]{}",:.-+eE0123456789tfnrulsa\\ \n/bu\u00e9', max_size=40)


@settings(max_examples=1500, deadline=None)
@given(JSONISH | st.sampled_from(['[{"n":"/3/0/1","v":1}]', '[{"bn":"/3/0/","n":"1","vs":"x"}]']))
def test_json_reader_is_a_strict_subset_of_json(s):
    try:
        ours = senml_json.parse(s.encode())
    except FormatError:
        return
    theirs = json.loads(s)
    assert ours == theirs
    only_format_errors(senml_json.decode, s.encode(), (), any_type)


SCALARS = (st.text(max_size=10) | st.integers(-(2 ** 70), 2 ** 70) | st.booleans() | st.none()
           | st.floats(allow_nan=False, allow_infinity=False))
PACKS = st.lists(st.dictionaries(st.text(max_size=5), SCALARS, max_size=5), max_size=5)


@settings(max_examples=300, deadline=None)
@given(PACKS, st.booleans(), st.sampled_from([None, 1, "\t"]))
def test_json_reader_reads_what_json_writes(pack, ascii, indent):
    s = json.dumps(pack, ensure_ascii=ascii, indent=indent)
    assert senml_json.parse(s.encode()) == pack


# ---------------------------------------------------------------- cross-checks

@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_is_shortest_repr(x):
    assert float_text(x) == repr(x)
    y = parse_float(float_text(x))
    assert y == x and math.copysign(1, y) == math.copysign(1, x)


@settings(max_examples=2000, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float_text_single_is_shortest_binary32(x):
    s = float_text(x, single=True)
    f32 = struct.pack(">f", x)
    assert struct.pack(">f", float(s)) == f32
    digits = len(s.split("e")[0].replace("-", "").replace(".", "").strip("0")) or 1
    p = 1
    while True:
        try:
            if struct.pack(">f", float("%.*g" % (p, x))) == f32:
                break
        except OverflowError:       # rounded above the binary32 range
            pass
        p += 1
    assert digits == p, (x, s, p)


@settings(max_examples=150, deadline=None)
@given(resources())
def test_cbor_output_reads_back_with_cbor2(data):
    recs, schema = data
    type_of = typer(schema)
    # cbor2 turns tag 1 into a datetime, which has a narrower range
    assume(all(abs(v) < 2 ** 35 for p, v in recs if type_of(p) == T.TIME))
    pack = cbor2.loads(senml_cbor.encode(recs, (), type_of))
    assert isinstance(pack, list) and len(pack) == len(recs)
    tree = cbor2.loads(lwm2m_cbor.encode(recs, (), type_of))
    for path, v in recs:
        node = tree
        for p in path:
            node = node[p]
        t = schema[(path[0], path[2])]
        if t == T.TIME:
            assert node.timestamp() == v
        elif t == T.OBJLNK:
            assert node == "%d:%d" % v
        else:
            assert node == v and type(node) is type(v)


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~", min_size=1, max_size=6)
ATTR_VALUES = (st.integers(-(2 ** 40), 2 ** 40) | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=10) | st.just(True))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(U16, max_size=4).map(tuple),
                          st.dictionaries(NAMES, ATTR_VALUES, max_size=4)), max_size=4))
def test_link_round_trip(links):
    back = link.decode(link.encode(links))
    assert len(back) == len(links)
    for (path, attrs), (uri, got) in zip(links, back):
        assert uri == T.path_str(path)
        assert set(got) == set(attrs)
        for k, v in attrs.items():
            assert got[k] == v and (isinstance(v, str) or type(got[k]) is type(v)), (k, v, got[k])


CBOR_KEYS = st.integers(-10, 70000) | st.sampled_from(["vlo", "n", "x_", "bn"]) | st.tuples(IDS, IDS)
CBOR_LEAVES = (st.integers(-(2 ** 65), 2 ** 65) | st.floats() | st.text(max_size=8) | st.binary(max_size=8)
               | st.booleans() | st.none() | st.sampled_from(["/3/0/1", "/3/0/", "1", "3:0", "/3/0/300/2"])
               | st.builds(cbor2.CBORTag, st.sampled_from([1, 4, 99]), st.integers(-5, 2 ** 40)))
CBOR_ITEMS = st.recursive(CBOR_LEAVES, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(CBOR_KEYS, inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(CBOR_ITEMS, BASES)
def test_random_cbor_items_only_raise_format_errors(item, base):
    payload = cbor2.dumps(item)
    for m in (senml_cbor, lwm2m_cbor):
        only_format_errors(m.decode, payload, base, any_type)
    only_format_errors(senml_cbor.decode_paths, payload)
