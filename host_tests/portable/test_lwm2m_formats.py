"""lwm2m.formats: the TS examples byte-exact, round trips of every type through
every format, and malformed payloads (FormatError, UnknownPath, nothing else)."""
import cbor
from host_tests.support.check import load_vectors, raises, unhex
from lwm2m.formats import (text, opaque, tlv, senml_json, senml_cbor,
                           lwm2m_cbor, link, codec)
from lwm2m.formats import types as T
from lwm2m.formats.types import FormatError, UnknownPath, ObjLnk
from lwm2m.formats.numtext import float_text, parse_float, b64encode, b64decode

V = load_vectors("lwm2m-formats.json")
TYPES = {}
for _oid, _res in V["types"].items():
    for _rid, _name in _res.items():
        TYPES[(int(_oid), int(_rid))] = T.NAMES[_name]


def type_of(path):
    return TYPES.get((path[0], path[2]))


def value(v):
    if isinstance(v, dict):
        if "objlnk" in v:
            return tuple(v["objlnk"])
        return unhex(v["hex"])
    return v


def recs(vec):
    return [tuple([tuple(r[0]), value(r[1])] + r[2:]) for r in vec["records"]]


def decoded(payload):
    return payload.encode() if isinstance(payload, str) else payload


# Every type, single and multiple, for the round trips (object 9000 is ours).
SCHEMA = {0: T.STRING, 1: T.INTEGER, 2: T.UNSIGNED, 3: T.FLOAT, 4: T.BOOLEAN,
          5: T.OPAQUE, 6: T.TIME, 7: T.OBJLNK, 8: T.CORELNK, 9: T.INTEGER,
          10: T.FLOAT, 300: T.STRING, 11: T.NONE}


def schema(path):
    return SCHEMA.get(path[2]) if path[0] == 9000 else type_of(path)


ALL = [((9000, 0, 0), "h\u00e9llo \u2603 \U0001f600 \"q\" \\ \n"),
       ((9000, 0, 1), -9223372036854775808),
       ((9000, 0, 2), 18446744073709551615),
       ((9000, 0, 3), 22.5),
       ((9000, 0, 4), True),
       ((9000, 0, 5), b"\x00\xff\xfe" + bytes(range(40))),
       ((9000, 0, 6), 1367491215),
       ((9000, 0, 7), (65535, 65535)),
       ((9000, 0, 8), "</3/0>;ct=60"),
       ((9000, 0, 9, 0), 0), ((9000, 0, 9, 1), -1), ((9000, 0, 9, 300), 2 ** 31),
       ((9000, 0, 10, 0), 0.1), ((9000, 0, 10, 7), -1e-05), ((9000, 0, 10, 9), 1.5e300),
       ((9000, 0, 300), ""),
       ((9000, 1, 4), False), ((9000, 1, 5), b""), ((9000, 1, 7), (3, 0)),
       ((9000, 1, 3), -0.0), ((9000, 1, 1), 9223372036854775807),
       ((9000, 1, 2), 0)]
MULTI = (tlv, senml_json, senml_cbor, lwm2m_cbor)


def sort(records):
    return sorted(records, key=lambda r: r[0])


# ---------------------------------------------------------------- TS examples

def test_tlv_ts_examples_byte_exact():
    for vec in V["tlv"]:
        base = tuple(vec["base"])
        assert tlv.decode(unhex(vec["hex"]), base, type_of) == recs(vec), vec["name"]
        assert tlv.encode(recs(vec), base, type_of).hex() == vec["hex"], vec["name"]


def test_tlv_ts_device_example_is_121_bytes():
    vec = V["tlv"][0]
    assert len(unhex(vec["hex"])) == 121
    wrapped = V["tlv"][1]
    assert unhex(wrapped["hex"]) == b"\x08\x00\x79" + unhex(vec["hex"])


def test_senml_json_ts_examples():
    for vec in V["senml_json"]:
        base = tuple(vec["base"])
        timed = len(vec["records"][0]) == 3
        got = senml_json.decode(vec["text"].encode(), base, type_of, timed=timed)
        assert got == recs(vec), vec["name"]
        if not vec.get("decode_only"):
            assert senml_json.encode(recs(vec), base, type_of).decode() == vec["text"], vec["name"]


def test_senml_json_ts_example_with_whitespace():
    vec = V["senml_json"][0]
    pretty = vec["text"].replace("},{", "},\n  {").replace(",\"", ", \"").replace("[", "[ ")
    assert senml_json.decode(pretty.encode(), (3, 0), type_of) == recs(vec)


def test_senml_cbor_ts_example_byte_exact():
    vec = V["senml_cbor"][0]
    assert senml_cbor.encode(recs(vec), (3, 0), type_of).hex() == vec["hex"]
    assert senml_cbor.decode(unhex(vec["hex"]), (3, 0), type_of) == recs(vec)


def test_senml_json_and_cbor_examples_agree():
    j = senml_json.decode(V["senml_json"][0]["text"].encode(), (3, 0), type_of)
    c = senml_cbor.decode(unhex(V["senml_cbor"][0]["hex"]), (3, 0), type_of)
    assert j == c == recs(V["tlv"][0])


def test_text_vectors():
    for vec in V["text"]:
        base = tuple(vec["base"])
        assert text.decode(vec["text"].encode(), base, type_of) == recs(vec), vec["name"]
        assert text.encode(recs(vec), base, type_of).decode() == vec["text"], vec["name"]


def test_lwm2m_cbor_vectors():
    for vec in V["lwm2m_cbor"]:
        base = tuple(vec["base"])
        assert sort(lwm2m_cbor.decode(unhex(vec["hex"]), base, schema13)) == sort(recs(vec)), vec["name"]
        if not vec.get("decode_only"):
            assert lwm2m_cbor.encode(recs(vec), base, schema13).hex() == vec["hex"], vec["name"]


def schema13(path):
    return T.INTEGER if path[0] == 13 else type_of(path)


def test_lwm2m_cbor_time_is_tag_1():
    out = lwm2m_cbor.encode([((3, 0, 13), 1367491215)], (3, 0, 13), type_of)
    assert out == unhex("a103a100a10dc11a5182428f")
    assert cbor.loads(out) == {3: {0: {13: cbor.Tag(1, 1367491215)}}}
    # without a schema the Python type decides: a plain integer
    assert lwm2m_cbor.encode([((3, 0, 13), 5)], (3,)) == unhex("a103a100a10d05")
    # a Time without its tag is read too
    assert lwm2m_cbor.decode(unhex("a103a100a10d05"), (), type_of) == [((3, 0, 13), 5)]


# ---------------------------------------------------------------- round trips

def test_round_trip_every_type_multi_value_formats():
    for m in MULTI:
        for base in ((9000,), ()) if m is not tlv else ((9000,),):
            out = m.encode(ALL, base, schema)
            back = m.decode(out, base, schema)
            assert same(sort(back), sort(ALL)), m.__name__
        inst0 = [r for r in ALL if r[0][1] == 0]
        back = m.decode(m.encode(inst0, (9000, 0), schema), (9000, 0), schema)
        assert same(sort(back), sort(inst0)), m.__name__
        multi = [r for r in ALL if r[0][:3] == (9000, 0, 10)]
        back = m.decode(m.encode(multi, (9000, 0, 10), schema), (9000, 0, 10), schema)
        assert same(sort(back), sort(multi)), m.__name__
        one = [((9000, 0, 10, 7), -1e-05)]
        assert same(m.decode(m.encode(one, one[0][0], schema), one[0][0], schema), one)


def same(a, b):
    """Equality that tells -0.0 from 0.0 and bool from int."""
    if len(a) != len(b):
        return False
    for (p, x), (q, y) in zip(a, b):
        if p != q or type(x) is not type(y) or x != y:
            return False
        if isinstance(x, float) and x == 0 and str(x) != str(y):
            return False
    return True


def test_senml_keeps_record_order():
    for m in (senml_json, senml_cbor):
        back = m.decode(m.encode(ALL, (), schema), (), schema)
        assert same(back, ALL)


def test_round_trip_every_type_single_value_formats():
    for path, v in ALL:
        if isinstance(v, float) and v == 0 and str(v) == "-0.0":
            continue
        assert same(text.decode(text.encode([(path, v)], path, schema), path, schema), [(path, v)])
        if schema(path) == T.OPAQUE:
            assert opaque.decode(opaque.encode([(path, v)], path, schema), path, schema) == [(path, v)]
    assert text.encode([((9000, 1, 3), -0.0)], (9000, 1, 3)) == b"-0.0"


def test_text_float_shortest_on_both_ports():
    cases = {22.5: "22.5", 0.1: "0.1", 1e-05: "1e-05", 77.01: "77.01", -82.1: "-82.1",
             8.777: "8.777", 100.0: "100.0", 1e16: "1e+16", 1e15: "1000000000000000.0",
             0.0001: "0.0001", 5e-324: "5e-324", 1.7976931348623157e308: "1.7976931348623157e+308",
             -68.975: "-68.975", 1 / 3: "0.3333333333333333", 2.0 ** 60: "1.152921504606847e+18"}
    for x, s in cases.items():
        assert float_text(x) == s, (s, float_text(x))
        assert parse_float(s) == x
        assert text.encode([((3303, 0, 5700), x)], (3303, 0, 5700), type_of) == s.encode()


def test_float_text_single_precision_ports():
    # what a port with 32-bit floats writes for its float32 values
    cases = {22.5: "22.5", 22.1: "22.1", 0.1: "0.1", 77.01: "77.01", -82.1: "-82.1",
             1e-05: "1e-05", 3.4028234663852886e38: "3.4028235e+38", 1e-45: "1e-45",
             16777216.0: "16777216.0", 0.0: "0.0"}
    for x, s in cases.items():
        assert float_text(x, single=True) == s, (s, float_text(x, single=True))


def test_text_int_for_float_resource_is_written_as_float():
    assert text.encode([((3303, 0, 5700), 22)], (3303, 0, 5700), type_of) == b"22.0"
    assert text.decode(b"22", (3303, 0, 5700), type_of) == [((3303, 0, 5700), 22.0)]
    assert text.decode(b"-2.5E+3", (3303, 0, 5700), type_of) == [((3303, 0, 5700), -2500.0)]


def test_tlv_widths():
    def enc(path, v):
        return tlv.encode([(path, v)], path, schema)
    assert enc((9000, 0, 1), 127) == unhex("c1017f")
    assert enc((9000, 0, 1), 128) == unhex("c2010080")
    assert enc((9000, 0, 1), -129) == unhex("c201ff7f")
    assert enc((9000, 0, 1), 2 ** 31) == unhex("c8010800000000" + "80000000")
    assert enc((9000, 0, 2), 200) == unhex("c102c8")          # unsigned: one byte
    assert enc((9000, 0, 2), 2 ** 64 - 1) == unhex("c80208" + "ff" * 8)
    assert enc((9000, 0, 3), 22) == unhex("c40341b00000")     # int in a Float resource
    assert tlv.encode([((9000, 0, 3), 22)], (9000, 0, 3)) == unhex("c10316")  # no schema
    assert enc((9000, 0, 3), float("inf")) == unhex("c4037f800000")
    nan = tlv.decode(enc((9000, 0, 3), float("nan")), (9000, 0, 3), schema)[0][1]
    assert nan != nan
    assert enc((9000, 0, 4), True) == unhex("c10401")
    assert enc((9000, 0, 7), (66, 1)) == unhex("c40700420001")
    assert enc((9000, 0, 0), "x" * 300) == unhex("d000012c") + b"x" * 300
    assert enc((9000, 0, 300), "a") == unhex("e1012c61")      # 16-bit identifier
    big = enc((9000, 0, 5), bytes(70000))
    assert big[:5] == unhex("d805011170") and len(big) == 5 + 70000
    assert tlv.decode(big, (9000, 0, 5), schema) == [((9000, 0, 5), bytes(70000))]
    # unsigned 200 written signed in two bytes still reads back as 200
    assert tlv.decode(unhex("c20200c8"), (9000, 0, 2), schema) == [((9000, 0, 2), 200)]
    assert tlv.decode(unhex("c101c8"), (9000, 0, 1), lambda p: T.INTEGER) == [((9000, 0, 1), -56)]


def test_tlv_read_of_a_resource_instance():
    out = tlv.encode([((3, 0, 6, 1), 5)], (3, 0, 6, 1), type_of)
    assert out == unhex("410105")
    assert tlv.decode(out, (3, 0, 6, 1), type_of) == [((3, 0, 6, 1), 5)]
    wrapped = unhex("8306410105")
    assert tlv.decode(wrapped, (3, 0, 6, 1), type_of) == [((3, 0, 6, 1), 5)]


def test_tlv_write_shapes():
    # bare resource instances for a multiple resource path
    assert tlv.decode(unhex("410001410105"), (3, 0, 6), type_of) == [((3, 0, 6, 0), 1), ((3, 0, 6, 1), 5)]
    # an Object Instance TLV around the resources of an instance path
    inner = unhex("c10964")
    assert tlv.decode(b"\x08\x00\x03" + inner, (3, 0), type_of) == [((3, 0, 9), 100)]
    # Create without an Object Instance TLV
    assert tlv.decode(inner, (3,), type_of, new_instance=4) == [((3, 4, 9), 100)]
    # an empty multiple resource and an empty instance
    assert tlv.decode(unhex("8006"), (3, 0, 6), type_of) == []
    assert tlv.decode(b"", (3, 0), type_of) == []
    assert tlv.encode([], (3, 0), type_of) == b""


def test_senml_times_round_trip():
    p = (3303, 0, 5700)
    cases = [
        [(p, 22.4, 1700000000), (p, 22.9, 1700000060), (p, 24.1, 1699999940)],
        [(p, 1.5, 1699877805.766), (p, 2.5, 1699877805.867), (p, 3.5, None)],
        [(p, 1.0, None), (p, 2.0, 5), (p, 3.0, 5.25), (p, 4.0, None), (p, 5.0, 7)],
    ]
    for m in (senml_json, senml_cbor):
        for c in cases:
            out = m.encode(c, p, type_of)
            assert m.decode(out, p, type_of, timed=True) == c, (m.__name__, out)
            assert m.decode(out, p, type_of) == [r[:2] for r in c]
    out = senml_json.encode(cases[0], p, type_of)
    assert out == (b'[{"bn":"/3303/0/5700","bt":1700000000,"v":22.4},{"v":22.9,"t":60},'
                   b'{"v":24.1,"t":-60}]')


def test_senml_root_groups_by_instance():
    recs_ = [((3, 0, 0), "a"), ((3, 0, 9), 95), ((1, 0, 1), 86400), ((3, 0, 6, 1), 5)]
    out = senml_json.encode(recs_, (), type_of)
    assert out == (b'[{"bn":"/3/0/","n":"0","vs":"a"},{"n":"9","v":95},{"bn":"/1/0/","n":"1","v":86400},'
                   b'{"bn":"/3/0/","n":"6/1","v":5}]')
    assert senml_json.decode(out, (), type_of) == recs_


def test_senml_single_resource_name_is_bn_only():
    out = senml_json.encode([((3, 0, 9), 95)], (3, 0, 9), type_of)
    assert out == b'[{"bn":"/3/0/9","v":95}]'
    assert senml_json.decode(b'[{"n":"/3/0/9","v":95}]', (3, 0, 9), type_of) == [((3, 0, 9), 95)]


def test_senml_opaque_is_base64url_without_padding():
    p = (9000, 0, 5)
    out = senml_json.encode([(p, b"\xfb\xff")], p, schema)
    assert out == b'[{"bn":"/9000/0/5","vd":"-_8"}]'
    for vd in (b"-_8", b"+/8=", b"+/8"):
        assert senml_json.decode(b'[{"bn":"/9000/0/5","vd":"' + vd + b'"}]', p, schema) == [(p, b"\xfb\xff")]
    out = senml_cbor.encode([(p, b"\xfb\xff")], p, schema)
    assert cbor.loads(out) == [{-2: "/9000/0/5", 8: b"\xfb\xff"}]


def test_senml_objlnk_is_vlo():
    p = (9000, 0, 7)
    assert senml_json.encode([(p, (66, 1))], p, schema) == b'[{"bn":"/9000/0/7","vlo":"66:1"}]'
    out = senml_cbor.encode([(p, ObjLnk(66, 1))], p, schema)
    assert cbor.loads(out) == [{-2: "/9000/0/7", "vlo": "66:1"}]
    assert senml_cbor.decode(out, p, schema) == [(p, (66, 1))]


def test_senml_json_escapes_and_unicode():
    p = (9000, 0, 0)
    s = "a\"b\\c\x01\u00e9\U0001f600"
    out = senml_json.encode([(p, s)], p, schema)
    assert out == '[{"bn":"/9000/0/0","vs":"a\\"b\\\\c\\u0001\u00e9\U0001f600"}]'.encode()
    assert senml_json.decode(b'[{"bn":"/9000/0/0","vs":"\\ud83d\\ude00\\u00E9\\/\\t"}]', p, schema) == \
        [(p, "\U0001f600\u00e9/\t")]


def test_senml_decode_paths():
    assert senml_json.decode_paths(b'[{"bn":"/3/0/","n":"0"},{"n":"9"},{"bn":"/1/0/","n":"1"},{"bn":"/"}]') == \
        [(3, 0, 0), (3, 0, 9), (1, 0, 1), ()]
    assert senml_cbor.decode_paths(unhex("82a100662f332f302f30a100662f312f302f31")) == [(3, 0, 0), (1, 0, 1)]
    with raises(FormatError):
        senml_json.decode_paths(b'[{"n":"/3/0/0","v":1}]')


def test_lwm2m_cbor_key_forms_and_nesting():
    # {[3, 0]: {0: "x", [6, 1]: 5}} reads as two records
    data = unhex("a1820300a200617882060105")
    assert sort(lwm2m_cbor.decode(data, (3, 0), type_of)) == [((3, 0, 0), "x"), ((3, 0, 6, 1), 5)]
    out = lwm2m_cbor.encode([((3, 0, 6, 1), 5), ((3, 0, 0), "x")], (3, 0), type_of)
    assert out == unhex("a103a100a2006178" + "06a10105")
    assert lwm2m_cbor.encode([], (3, 0)) == unhex("a0")


def test_codec_lookup():
    assert codec(11542) is tlv and codec(110) is senml_json and codec(112) is senml_cbor
    assert codec(11544) is lwm2m_cbor and codec(0) is text and codec(42) is opaque
    assert codec(40) is link and codec(50) is None


# ---------------------------------------------------------------- link format

def test_link_build():
    assert link.link((3303, 0, 5700), [("dim", 2), ("pmin", 10)]) == "</3303/0/5700>;dim=2;pmin=10"
    assert link.link((3303, 0, 5700), {"dim": 2, "pmin": 10, "gt": 20.5}) == \
        "</3303/0/5700>;pmin=10;gt=20.5;dim=2"
    assert link.link((0, 1), {"uri": "coap://[::1]:5683", "ssid": 101}) == '</0/1>;ssid=101;uri="coap://[::1]:5683"'
    assert link.link("/", [("rt", "oma.lwm2m"), ("ct", (60, 110, 11542))]) == '</>;rt="oma.lwm2m";ct="60 110 11542"'
    assert link.link((3,), [("ver", 1.1), ("obs", True)]) == "</3>;ver=1.1;obs"
    assert link.link((1,), [("q", 'a"b\\')]) == '</1>;q="a\\"b\\\\"'
    assert link.encode([((1, 0), ()), ((3, 0), {"pmin": 10})]) == b"</1/0>,</3/0>;pmin=10"
    for bad in ([("bad name", 1)], [("x", object())], [("", 1)], [("x", float("nan"))]):
        with raises(FormatError):
            link.link((1,), bad)


def test_link_parse():
    payload = (b'</>;rt="oma.lwm2m";ct=11543, </1/0>,</3/0>;pmin=10;gt=-2.5;obs,'
               b'</0/1>;ssid=101;uri="coap://h;x,\\"y\\"";ver=1.1;ct="60 110"')
    assert link.decode(payload) == [
        ("/", {"rt": "oma.lwm2m", "ct": 11543}),
        ("/1/0", {}),
        ("/3/0", {"pmin": 10, "gt": -2.5, "obs": True}),
        ("/0/1", {"ssid": 101, "uri": 'coap://h;x,"y"', "ver": 1.1, "ct": "60 110"})]
    assert link.decode(b"") == []
    assert link.decode(b"</a>;x=abc") == [("/a", {"x": "abc"})]
    built = link.encode([((3303, 0, 5700), [("dim", 2), ("pmin", 10), ("st", 0.5)])])
    assert link.decode(built) == [("/3303/0/5700", {"dim": 2, "pmin": 10, "st": 0.5})]


def test_link_malformed():
    for bad in (b"/3/0", b"<3/0", b"</3>;", b"</3>;=1", b"</3>;a=", b'</3>;a="x', b"</3>,",
                b"</3>;a=1;a=2", b"</3> </4>", b"</3>x", b"</3>;a b", b"\xff", b"</3>;a=\"x\"y",
                b",</3>"):
        with raises(FormatError):
            link.decode(bad)


# ---------------------------------------------------------------- malformed input

def fails(fn, *args, exc=FormatError, **kw):
    with raises(exc) as r:
        fn(*args, **kw)
    return r.value


def test_tlv_malformed():
    p = (3, 0)
    for hx in ("c8", "c800", "c80014", "c8001441", "c9", "e100", "d0000005aa", "d80000",
               "c80914" + "41" * 10,            # length beyond the payload
               "c30900000c"):                   # a 3-byte integer
        fails(tlv.decode, unhex(hx), p, type_of)
    f = lambda q: {9: T.INTEGER, 13: T.TIME, 0: T.STRING, 1: T.FLOAT, 2: T.BOOLEAN,
                   3: T.OBJLNK, 4: T.UNSIGNED, 5: T.NONE}.get(q[2])
    for hx in ("c309000001", "c30d000000", "c20100ff", "c101ff",
               "c10202", "c303004200", "c20200ff", "c10300", "c304000000",
               "c200c3a9" "00",                  # stray byte after a TLV
               "c200c328",                      # bad UTF-8
               "c300eda080",                    # UTF-8 surrogate
               "c200c080",                      # overlong UTF-8
               "c10501",                        # executable resource
               "c10964c10965",                  # resource given twice
               "8309c10001",                    # multiple resource holding a resource TLV
               "8609410001410002",              # resource instance given twice
               "4100014101"):                   # resource instances in an instance
        fails(tlv.decode, unhex(hx), p, f)
    fails(tlv.decode, unhex("080103c10964"), p, type_of)          # instance 1 for /3/0
    fails(tlv.decode, unhex("c10964"), (3,), type_of)               # Create needs new_instance
    fails(tlv.decode, unhex("c10964"), (3, 0, 10), type_of)         # resource 9 for /3/0/10
    fails(tlv.decode, unhex("c10964c10a0f"), (3, 0, 9), type_of)    # two TLVs for one resource
    fails(tlv.decode, unhex("410105"), (3, 0, 6, 0), type_of)       # instance 1 for /3/0/6/0
    fails(tlv.decode, unhex("080003c10964080003c10964"), (3,), type_of)   # instance twice
    fails(tlv.decode, unhex("c10964"), (), type_of)
    e = fails(tlv.decode, unhex("c16301"), p, type_of, exc=UnknownPath)  # resource 99
    assert isinstance(e, KeyError) and "/3/0/99" in str(e)


def test_tlv_malformed_never_partial():
    # the first resource is fine, the second is broken: nothing comes back
    fails(tlv.decode, unhex("c10964c20a0f"), (3, 0), type_of)


def test_text_malformed():
    num = (3, 0, 9)
    for s in (b"", b"12a", b" 12", b"12 ", b"1.5", b"+", b"--1", b"0x10", b"\xff",
              b"9223372036854775808", b"-9223372036854775809"):
        fails(text.decode, s, num, type_of)
    for s in (b"", b".", b"1e", b"1e+", b"e5", b"1.2.3", b"inf", b"nan", b"1e999", b"1,5", b" 1"):
        fails(text.decode, s, (3303, 0, 5700), type_of)
    for s in (b"2", b"true", b"", b"01", b" 1"):
        fails(text.decode, s, (1, 0, 6), type_of)
    for s in (b"3", b"3:", b":0", b"3:0:1", b"3:70000", b"a:b", b"03:0", b"-1:0"):
        fails(text.decode, s, (66, 0, 2), type_of)
    for s in (b"@@@@", b"YWJ=", b"YQ=", b"Y", b"YW=J", b"YW J"):
        fails(text.decode, s, (9000, 0, 5), schema)
    assert text.decode(b"YWI=", (9000, 0, 5), schema) == [((9000, 0, 5), b"ab")]
    assert text.decode(b"YWI", (9000, 0, 5), schema) == [((9000, 0, 5), b"ab")]
    for s in (b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xe2\x82"):
        fails(text.decode, s, (3, 0, 0), type_of)
    fails(text.decode, b"", (9000, 0, 11), schema)                # executable
    fails(text.decode, b"1", (3, 0), type_of)                     # not a resource path
    fails(text.decode, b"1", (3, 0, 99), type_of, exc=UnknownPath)
    fails(opaque.decode, b"1", (3, 0, 9), type_of)                # not Opaque
    fails(opaque.decode, b"1", (3, 0, 99), type_of, exc=UnknownPath)


def test_encode_refusals():
    fails(text.encode, [((3, 0, 9), 1), ((3, 0, 10), 2)], (3, 0))
    fails(text.encode, [((3, 0, 9), 1)], (3, 0, 10))
    fails(text.encode, [((3303, 0, 5700), float("nan"))], (3303, 0, 5700))
    fails(text.encode, [((3, 0, 9), "x")], (3, 0, 9), type_of)    # str for an Integer
    fails(text.encode, [((3, 0, 9), True)], (3, 0, 9), type_of)
    fails(text.encode, [((3, 0, 9), 2 ** 63)], (3, 0, 9), type_of)
    fails(text.encode, [((3, 0, 9), None)], (3, 0, 9))
    fails(opaque.encode, [((3, 0, 0), "x")], (3, 0, 0))
    fails(tlv.encode, [((3, 0, 9), 1)], ())
    fails(tlv.encode, [((3, 0, 9), 1, 5)], (3,))                  # time in TLV
    fails(tlv.encode, [((3, 0, 9), 1), ((3, 0, 9), 2)], (3, 0))
    fails(tlv.encode, [((3, 0, 6), 1), ((3, 0, 6, 0), 2)], (3, 0))
    fails(tlv.encode, [((3, 1, 9), 1)], (3, 0))                   # outside the request path
    fails(tlv.encode, [((3, 0), 1)], (3,))                        # not a resource path
    fails(tlv.encode, [((3, 0, 70000), 1)], (3,))
    fails(tlv.encode, [((9000, 0, 11), 1)], (9000,), schema)      # executable
    fails(tlv.encode, [((9000, 0, 7), (1, 2, 3))], (9000,), schema)
    fails(tlv.encode, [((9000, 0, 7), (1, 70000))], (9000,), schema)
    fails(senml_json.encode, [((3303, 0, 5700), float("inf"))], ())
    fails(senml_json.encode, [((3, 0, 9), 1), ((3, 0, 9, 1), 1)], (3, 0, 9))
    fails(senml_json.encode, [((3, 0, 9), 1, "now")], ())
    fails(senml_cbor.encode, [((3, 0, 9), 1, float("nan"))], ())
    fails(senml_cbor.encode, [((3, 0, 9), 1, True)], ())
    fails(lwm2m_cbor.encode, [((3, 0, 9), 1), ((3, 0, 9), 2)], ())
    fails(lwm2m_cbor.encode, [((3, 0, 9), 1), ((3, 0, 9, 0), 2)], ())
    fails(lwm2m_cbor.encode, [((3, 0, 9), 1, 1)], ())
    fails(lwm2m_cbor.encode, [[(3, 0, 9), 1]], ())                 # a record is a tuple


def test_senml_json_malformed():
    ok = b'[{"bn":"/3/0/","n":"9","v":100}]'
    assert senml_json.decode(ok, (3, 0), type_of) == [((3, 0, 9), 100)]
    for bad in (b"", b"{}", b'{"n":"/3/0/9","v":1}', b"[", b"[1]", b'[{"n":"/3/0/9","v":1}',
                b'[{"n":"/3/0/9","v":1},]', b'[{"n":"/3/0/9","v":1}] x', b'[{"n":"/3/0/9","v":1,}]',
                b'[{"v":1}]',                               # missing name
                b'[{"bn":"","n":"","v":1}]',
                b'[{"n":5,"v":1}]', b'[{"bn":["/3/0/"],"n":"9","v":1}]',
                b'[{"n":"/3/0/9","v":"1"}]', b'[{"n":"/3/0/9","v":true}]', b'[{"n":"/3/0/9","v":null}]',
                b'[{"n":"/3/0/9","vb":1}]', b'[{"n":"/3/0/0","vs":1}]', b'[{"n":"/3/0/9","t":"1","v":1}]',
                b'[{"n":"/3/0/9","v":{"a":1}}]', b'[{"n":"/3/0/9","v":[1]}]',
                b'[{"n":"/3/0/9"}]', b'[{"n":"/3/0/9","v":1,"vs":"1"}]',
                b'[{"n":"/3/0/9","vs":"1"}]', b'[{"n":"/3/0/0","v":1}]', b'[{"n":"/3/0/9","v":1.5}]',
                b'[{"n":"/3/0/9","v":1e400}]', b'[{"n":"/3/0/9","v":NaN}]', b'[{"n":"/3/0/9","v":01}]',
                b'[{"n":"/3/0/9","v":-}]', b'[{"n":"/3/0/9","v":1.}]', b'[{"n":"/3/0/9","v":.5}]',
                b'[{"n":"/3/0/9","v":+1}]', b'[{"n":"/3/0/9","v":1e}]', b"[{'n':'/3/0/9','v':1}]",
                b'[{"n":"/3/0/x","v":1}]', b'[{"n":"3/0/9","v":1}]', b'[{"n":"/3/0/9/","v":1}]',
                b'[{"n":"/3/0/9/0/0","v":1}]', b'[{"n":"/3/0","v":1}]', b'[{"n":"/3/00/9","v":1}]',
                b'[{"n":"/3/1/9","v":1}]',                  # outside /3/0
                b'[{"n":"/3/0/9","v":1,"foo_":1}]', b'[{"n":"/3/0/9","v":1,"bver":11}]',
                b'[{"n":"/3/0/9","v":1,"bv":1}]', b'[{"n":"/3/0/9","s":1}]',
                b'[{"n":"/3/0/0","vs":"\x01"}]', b'[{"n":"/3/0/0","vs":"\\ud800"}]',
                b'[{"n":"/3/0/0","vs":"\\udc00\\ud800"}]', b'[{"n":"/3/0/0","vs":"\\x41"}]',
                b'[{"n":"/3/0/0","vs":"\\u12"}]', b'[{"n":"/3/0/0","vs":"\xff"}]',
                b'[{"n":"/3/0/0","vs":"abc}]', b'[{"n":"/3/0/9","v":1}{"n":"/3/0/9","v":1}]',
                b'[{"n":"/3/0/9","v":1' + b"1" * 60 + b"}]"):
        fails(senml_json.decode, bad, (3, 0), type_of)
    for bad in (b'[{"n":"/9000/0/5","vd":"@@"}]', b'[{"n":"/9000/0/5","vd":"YWJ="}]',
                b'[{"n":"/9000/0/5","vd":1}]', b'[{"n":"/9000/0/7","vlo":"1"}]',
                b'[{"n":"/9000/0/7","vs":"1:2"}]', b'[{"n":"/9000/0/2","v":-1}]',
                b'[{"n":"/9000/0/2","v":18446744073709551616}]', b'[{"n":"/9000/0/11","v":1}]'):
        fails(senml_json.decode, bad, (), schema)
    fails(senml_json.decode, b'[{"n":"/3/0/99","v":1}]', (), type_of, exc=UnknownPath)
    # unknown labels are ignored, integral floats accepted for integers
    assert senml_json.decode(b'[{"n":"/3/0/9","v":1.0,"u":"%","x":2}]', (), type_of) == [((3, 0, 9), 1)]
    assert senml_json.decode(b" [ ] ", (), type_of) == []


def test_senml_cbor_malformed():
    def c(obj):
        return cbor.dumps(obj)
    good = [{-2: "/3/0/", 0: "9", 2: 100}]
    assert senml_cbor.decode(c(good), (3, 0), type_of) == [((3, 0, 9), 100)]
    for bad in (b"", b"\x81", b"\xa0", c({0: "/3/0/9", 2: 1}), c([1]), c([[0, "/3/0/9"]]),
                c(good) + b"\x00",                                     # trailing bytes
                c(good)[:-1],                                          # truncated
                b"\x81\xa2\x00\x66/3/0/9\x02\x1c",                     # reserved additional info
                c([{2: 1}]),                                           # missing name
                c([{0: 9, 2: 1}]), c([{0: b"/3/0/9", 2: 1}]),          # name not text
                c([{0: "/3/0/9", 2: "1"}]), c([{0: "/3/0/9", 2: None}]),
                c([{0: "/3/0/9", 2: cbor.Tag(4, [-1, 5])}]), c([{0: "/3/0/9", 2: cbor.undefined}]),
                c([{0: "/3/0/9", 2: 1, 6: "x"}]), c([{0: "/3/0/9", -2: 5, 2: 1}]),
                c([{0: "/3/0/0", 3: b"x"}]), c([{0: "/3/0/9", 2: 1, -1: 11}]),
                c([{0: "/3/0/9", 2: 1, -5: 1}]), c([{0: "/3/0/9", 2: 1, -9: 1}]),
                c([{0: "/3/0/9", 2: 1, 4: True}]), c([{0: "/3/0/9", 2: 1, "x_": 1}]),
                c([{0: "/3/0/9", 2: 1.5}]), c([{0: "/3/0/9", 2: float("nan")}]),
                c([{0: "/3/0/9", 2: float("inf")}]), c([{0: "/3/0/9", 2: 1, 6: float("nan")}]),
                b"\x81\xa2\x00\x62\xff\xfe\x02\x01",                   # bad UTF-8 name
                b"\x81\xa2\x00\x66/3/0/9\x00\x01"):                 # duplicate keys
        fails(senml_cbor.decode, bad, (3, 0), type_of)
    fails(senml_cbor.decode, c([{0: "/9000/0/5", 8: "AAA"}]), (), schema)   # vd as text
    fails(senml_cbor.decode, c([{0: "/9000/0/7", "vlo": b"1:2"}]), (), schema)
    fails(senml_cbor.decode, c([{0: "/3/0/99", 2: 1}]), (), type_of, exc=UnknownPath)
    # a half float for a Float resource, unknown positive and text labels ignored
    assert senml_cbor.decode(unhex("81a3") + c(0) + c("/3303/0/5700") + c(2) + unhex("f94da0")
                             + c(99) + c(1), (), type_of) == [((3303, 0, 5700), 22.5)]
    assert senml_cbor.decode(c([{0: "/3/0/9", 2: 1, "n": "x", 99: [1]}]), (), type_of) == [((3, 0, 9), 1)]


def test_lwm2m_cbor_malformed():
    def c(obj):
        return cbor.dumps(obj)
    assert lwm2m_cbor.decode(c({3: {0: {9: 100}}}), (3, 0), type_of) == [((3, 0, 9), 100)]
    for bad in (b"", c([]), c(5), c({"3": {0: {9: 1}}}), c({3: {0: {b"9": 1}}}), c({70000: {0: {9: 1}}}),
                c({-3: {0: {9: 1}}}), c({True: {0: {9: 1}}}), c({(): {9: 1}}),
                c({3: 1}), c({3: {0: 1}}), c({(3, 0): 1}),                     # values above a resource
                c({3: {0: {6: {0: {1: 2}}}}}), c({(3, 0, 6, 0, 1): 2}),        # deeper than an instance
                c({(3, 0, 9): 1, 3: {0: {9: 2}}}),                             # the same path twice
                c({3: {0: {6: 1, (6, 0): 2}}}), c({(3, 0, 6, 0): 2, 3: {0: {6: 1}}}),
                c({3: {0: {9: cbor.Tag(1, 5)}}}), c({3: {0: {13: cbor.Tag(0, "2020")}}}),
                c({3: {0: {13: cbor.Tag(1, 1.5)}}}), c({3: {0: {9: 1.5}}}), c({3: {0: {9: "1"}}}),
                c({3: {0: {9: None}}}), c({3: {0: {9: True}}}), c({3: {0: {0: b"x"}}}),
                c({3: {1: {9: 1}}}),                                           # outside /3/0
                c({3: {0: {9: 1}}}) + b"\x00", c({3: {0: {9: 1}}})[:-1]):
        fails(lwm2m_cbor.decode, bad, (3, 0), type_of)
    for bad in (c({9000: {0: {7: "1"}}}), c({9000: {0: {7: (1, 2)}}}), c({9000: {0: {5: "AA"}}}),
                c({9000: {0: {2: -1}}}), c({9000: {0: {4: 1}}}), c({9000: {0: {11: 1}}})):
        fails(lwm2m_cbor.decode, bad, (), schema)
    fails(lwm2m_cbor.decode, c({3: {0: {99: 1}}}), (), type_of, exc=UnknownPath)


def test_unknown_path_is_a_key_error_everywhere():
    for m, payload in ((text, b"1"), (opaque, b"1"), (tlv, unhex("c10101")),
                       (senml_json, b'[{"bn":"/7/0/1","v":1}]'),
                       (senml_cbor, cbor.dumps([{-2: "/7/0/1", 2: 1}])),
                       (lwm2m_cbor, cbor.dumps({7: {0: {1: 1}}}))):
        e = fails(m.decode, payload, (7, 0, 1), lambda p: None, exc=UnknownPath)
        assert isinstance(e, KeyError) and not isinstance(e, ValueError)


def test_objlnk_and_paths():
    assert ObjLnk(3, 0) == (3, 0)
    for a, b in ((-1, 0), (0, 65536), (1.0, 0), (True, 0)):
        fails(ObjLnk, a, b)
    assert T.path_str((3, 0, 1)) == "/3/0/1" and T.path_str(()) == "/"
    assert T.parse_path("/") == () and T.parse_path("/65535/0") == (65535, 0)
    for bad in ("", "3/0", "/3//0", "/65536", "/1/2/3/4/5", "/-1", "/+1", "/01", "/1 "):
        fails(T.parse_path, bad)


def test_base64_helpers():
    for data in (b"", b"f", b"fo", b"foo", b"\xfb\xff\xbf", bytes(range(256))):
        s = b64encode(data)
        assert b64decode(s) == data and len(s) % 4 == 0
        u = b64encode(data, url=True)
        assert "=" not in u and "+" not in u and "/" not in u
        assert b64decode(u) == data
    for bad in ("=", "A", "AA=A", "AAA==", "AB==", "A===", "AA\n==", "AA*="):
        fails(b64decode, bad)
