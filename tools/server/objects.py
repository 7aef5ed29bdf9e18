"""Resource types of the LwM2M objects the server knows, for decoding answers.

Owns: the table (object ID, resource ID) -> (type name, multiple, resource
name), built at start-up from the OMA registry XML (default: the
`shared/lwm2m-objects` folder beside the repo, as tools/gen_objects.py uses;
or any folder given), with `lib/lwm2m/defs.py` as the fallback when no XML is
at hand. `type_of(path)` gives the codecs (`decode(payload, base, type_of)`)
the type code of `lwm2m.formats.types`, or None for a resource nobody
described (the caller then decodes it as opaque).

Where a folder holds both `N.xml` and `N-1_1.xml`, the LwM2M 1.1 version wins:
this is a 1.1 server.
"""
import os
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_XML_DIR = os.path.join(os.path.dirname(ROOT), "shared", "lwm2m-objects")

# Names of the XML <Type> element -> attribute names of lwm2m.formats.types
TYPE_NAMES = {"String": "STRING", "Integer": "INTEGER", "Unsigned Integer": "UNSIGNED",
              "Float": "FLOAT", "Boolean": "BOOLEAN", "Opaque": "OPAQUE",
              "Time": "TIME", "Objlnk": "OBJLNK", "Corelnk": "CORELNK", "": "NONE"}
# Resource 17 of 11000 (link to an OSCORE instance) is used by the C2C reference
# implementation but missing from its XML (see docs/c2c-extension.md).
EXTRA = {11000: {17: ("Objlnk", False, "OSCORE Security Mode")}}


def _types_module():
    try:
        from lwm2m.formats import types
        return types
    except ImportError:
        return None


class ObjectTable:
    """{oid: {"name": str, "multiple": bool, "resources": {rid: (type, multiple, name)}}}."""

    def __init__(self, objects=None):
        self.objects = objects or {}
        self._codes = None

    # -- loading ---------------------------------------------------------------
    @classmethod
    def load(cls, xml_dir=None):
        """From `xml_dir` (default DEFAULT_XML_DIR), else from lwm2m.defs,
        else empty. Raises OSError/ValueError only for an explicit xml_dir."""
        if xml_dir is not None:
            return cls.from_xml_dir(xml_dir)
        if os.path.isdir(DEFAULT_XML_DIR):
            try:
                return cls.from_xml_dir(DEFAULT_XML_DIR)
            except (OSError, ValueError):
                pass
        return cls.from_defs()

    @classmethod
    def from_xml_dir(cls, xml_dir):
        if not os.path.isdir(xml_dir):
            raise OSError("no such folder: %s" % xml_dir)
        chosen = {}
        for name in sorted(os.listdir(xml_dir)):
            if not name.endswith(".xml"):
                continue
            stem = name[:-4]
            base, _, ver = stem.partition("-")
            if not base.isdigit():
                continue
            oid = int(base)
            # prefer the 1.1 edition (N-1_1.xml) over the newest one (N.xml)
            if oid in chosen and ver != "1_1":
                continue
            chosen[oid] = os.path.join(xml_dir, name)
        objects = {}
        for oid, path in chosen.items():
            objects[oid] = parse_xml(path)
        for oid, extra in EXTRA.items():
            if oid in objects:
                for rid, info in extra.items():
                    objects[oid]["resources"].setdefault(rid, info)
        return cls(objects)

    @classmethod
    def from_defs(cls):
        """From the generated lib/lwm2m/defs.py (types only, no names)."""
        try:
            from lwm2m import defs
            from lwm2m.model import table_ids, lookup
        except ImportError:
            return cls({})
        types = _types_module()
        names = {}
        if types is not None:
            for xml_name, attr in TYPE_NAMES.items():
                if hasattr(types, attr):
                    names[getattr(types, attr)] = xml_name
        try:
            from tools.gen_objects import OBJECTS as generated
        except ImportError:
            return cls({})
        by_oid = getattr(defs, "OBJECTS", {})
        objects = {}
        for oid, _xml, const in generated:
            table = getattr(defs, const, None)
            if table is None:
                continue
            resources = {}
            for rid in table_ids(table):
                flags = lookup(table, rid)
                resources[rid] = (names.get(flags & 0x0F, ""), bool(flags & 0x80), "")
            multiple = by_oid.get(oid, (True,))[0]
            objects[oid] = {"name": "", "multiple": multiple, "resources": resources}
        return cls(objects)

    # -- queries ---------------------------------------------------------------
    def resource(self, oid, rid):
        obj = self.objects.get(oid)
        return None if obj is None else obj["resources"].get(rid)

    def type_name(self, path):
        """XML type name ('Integer', ...) of the resource at `path`, or None."""
        if len(path) < 3:
            return None
        info = self.resource(path[0], path[2])
        return None if info is None else info[0]

    def is_multiple(self, path):
        info = self.resource(path[0], path[2]) if len(path) >= 3 else None
        return bool(info and info[1])

    def name(self, path):
        """Human name of an object or resource ('' when unknown)."""
        obj = self.objects.get(path[0]) if path else None
        if obj is None:
            return ""
        if len(path) < 3:
            return obj["name"]
        info = obj["resources"].get(path[2])
        return info[2] if info else ""

    def type_of(self, path):
        """Type code (lwm2m.formats.types) of the resource at `path`, or None."""
        name = self.type_name(path)
        if name is None:
            return None
        if self._codes is None:
            types = _types_module()
            self._codes = {} if types is None else dict(types.NAMES)
        return self._codes.get(name)


def parse_xml(path):
    """One object description from an OMA registry XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError("%s: %s" % (path, e))
    obj = root.find("Object")
    if obj is None:
        raise ValueError("%s: no <Object>" % path)
    resources = {}
    for item in obj.iter("Item"):
        rid = int(item.get("ID"))
        kind = (item.findtext("Type") or "").strip()
        multiple = (item.findtext("MultipleInstances") or "").strip() == "Multiple"
        resources[rid] = (kind, multiple, (item.findtext("Name") or "").strip())
    return {"name": (obj.findtext("Name") or "").strip(),
            "multiple": (obj.findtext("MultipleInstances") or "").strip() == "Multiple",
            "resources": resources}
