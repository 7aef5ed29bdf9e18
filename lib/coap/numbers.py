"""CoAP registry numbers (RFC 7252 §12, RFC 7641, RFC 7959, RFC 8613, RFC 9175).

One place for every message type, code, option number and content format the
CoAP layer uses, named as the IANA registries name them.
"""
from micropython import const

# Message types (RFC 7252 §3)
CON = const(0)
NON = const(1)
ACK = const(2)
RST = const(3)

# Method codes (§12.1.1): class 0
EMPTY = const(0)
GET = const(1)
POST = const(2)
PUT = const(3)
DELETE = const(4)
FETCH = const(5)             # RFC 8132

# Response codes (§12.1.2), encoded as class << 5 | detail
CREATED = const(65)                      # 2.01
DELETED = const(66)                      # 2.02
VALID = const(67)                        # 2.03
CHANGED = const(68)                      # 2.04
CONTENT = const(69)                      # 2.05
CONTINUE = const(95)                     # 2.31 (RFC 7959)
BAD_REQUEST = const(128)                 # 4.00
UNAUTHORIZED = const(129)                # 4.01
BAD_OPTION = const(130)                  # 4.02
FORBIDDEN = const(131)                   # 4.03
NOT_FOUND = const(132)                   # 4.04
METHOD_NOT_ALLOWED = const(133)          # 4.05
NOT_ACCEPTABLE = const(134)              # 4.06
REQUEST_ENTITY_INCOMPLETE = const(136)   # 4.08 (RFC 7959)
PRECONDITION_FAILED = const(140)         # 4.12
REQUEST_ENTITY_TOO_LARGE = const(141)    # 4.13
UNSUPPORTED_CONTENT_FORMAT = const(143)  # 4.15
INTERNAL_SERVER_ERROR = const(160)       # 5.00
NOT_IMPLEMENTED = const(161)             # 5.01
SERVICE_UNAVAILABLE = const(163)         # 5.03
GATEWAY_TIMEOUT = const(164)             # 5.04

# Option numbers (§12.2 and later RFCs)
IF_MATCH = const(1)
URI_HOST = const(3)
ETAG = const(4)
IF_NONE_MATCH = const(5)
OBSERVE = const(6)          # RFC 7641
URI_PORT = const(7)
LOCATION_PATH = const(8)
OSCORE = const(9)           # RFC 8613
URI_PATH = const(11)
CONTENT_FORMAT = const(12)
MAX_AGE = const(14)
URI_QUERY = const(15)
ACCEPT = const(17)
LOCATION_QUERY = const(20)
BLOCK2 = const(23)          # RFC 7959
BLOCK1 = const(27)          # RFC 7959
SIZE2 = const(28)           # RFC 7959
PROXY_URI = const(35)
PROXY_SCHEME = const(39)
SIZE1 = const(60)
ECHO = const(252)           # RFC 9175
NO_RESPONSE = const(258)    # RFC 7967
REQUEST_TAG = const(292)    # RFC 9175

# Options this implementation understands; an unknown critical option in a
# request is answered with 4.02 (§5.4.1).
KNOWN_OPTIONS = (IF_MATCH, URI_HOST, ETAG, IF_NONE_MATCH, OBSERVE, URI_PORT,
                 LOCATION_PATH, OSCORE, URI_PATH, CONTENT_FORMAT, MAX_AGE,
                 URI_QUERY, ACCEPT, LOCATION_QUERY, BLOCK2, BLOCK1, SIZE2,
                 SIZE1, ECHO, NO_RESPONSE, REQUEST_TAG)

# Content formats (§12.3 and the LwM2M TS)
TEXT_PLAIN = const(0)
LINK_FORMAT = const(40)
OCTET_STREAM = const(42)
JSON = const(50)
CBOR = const(60)
SENML_JSON = const(110)
SENML_CBOR = const(112)
LWM2M_TLV = const(11542)
LWM2M_JSON = const(11543)
LWM2M_CBOR = const(11544)


def is_critical(option):
    """Odd option numbers are critical (§5.4.6)."""
    return option & 1


def code_class(code):
    return code >> 5


def code_text(code):
    """'2.05' style rendering of a code."""
    return "%d.%02d" % (code >> 5, code & 31)


def is_request(code):
    return 1 <= code <= 31


def is_response(code):
    return 64 <= code < 192
