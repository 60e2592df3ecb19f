"""Exact edits of a package's plain XML: the parts of an xlsx read and written as they are,
and only the elements an edit names touched.

A package from a department is untrusted, and text edits are only safe on XML of a known shape.
So every part edited must be plain: UTF-8, no comment, CDATA, DTD or processing instruction
(`Package.text`). Then every `<` starts a tag, a tag is matched exactly, attribute by attribute,
and a worksheet's children are found by a scan of the tags outside its rows
(`WorksheetEdits`). Anything else raises `NotSpliceable`, and the caller takes another way
(`xlq.intake.feedback_package` falls back to openpyxl). Every part written is parsed back first,
so a package that is not well-formed is never left.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from html import escape
from xml.parsers import expat

from defusedxml.ElementTree import fromstring

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAX_UNPACKED = 64 * 1024 * 1024  # more than any return: a larger package is left to openpyxl in the limited child

# The order of a worksheet's children (ECMA-376 CT_Worksheet): an added element goes before the
# first later one present.
WORKSHEET_ORDER = ("sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
                   "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
                   "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations",
                   "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks",
                   "customProperties", "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing",
                   "legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems",
                   "tableParts", "extLst")

ATTRS = r"""(?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*"""
_ATTR = re.compile(r"""([A-Za-z_][\w.:-]*)\s*=\s*("[^"<]*"|'[^'<]*')""")
TAG = re.compile(rf"<(/?)([A-Za-z_][\w.:-]*)({ATTRS})(/?)>")
_CELL = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")


class NotSpliceable(Exception):
    """This package is not of a shape these edits are safe on: take another way."""


class Package:
    """The parts of a package, the parts and relationships added, and the written package."""

    @classmethod
    def read(cls, path: str) -> Package:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names) or sum(info.file_size for info in infos) > MAX_UNPACKED:
                raise NotSpliceable("duplicate or oversized parts")
            return cls({info.filename: archive.read(info) for info in infos})

    def __init__(self, parts: dict[str, bytes]) -> None:
        self.parts = parts
        self.added: dict[str, str] = {}  # new parts beside the edited ones
        self.content_types: dict[str, str] = {}  # part name -> content type, for the Overrides added
        self.defaults: dict[str, str] = {}  # extension -> content type, added when the package has none
        self._rels: dict[str, str] = {}  # edited relationship parts

    def text(self, name: str) -> str:
        """A part as text, refused unless plain (see the module's docstring)."""
        if name in self.added:
            return self.added[name]
        data = self.parts.get(name)
        if data is None:
            raise NotSpliceable(f"no part {name}")
        try:
            xml = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise NotSpliceable(f"{name} is not UTF-8") from None
        if "<!" in xml or xml.count("<?") > xml.startswith("<?xml"):
            raise NotSpliceable(f"{name} has comments, CDATA, a DTD or processing instructions")
        return xml

    def free_name(self, pattern: str) -> str:
        taken = {n.lower() for n in (*self.parts, *self.added)}
        return next(pattern.format(n) for n in range(1, 10_000) if pattern.format(n).lower() not in taken)

    def relationships(self, part: str) -> tuple[str, list[tuple[str, str, str]]]:
        """The relationship part of `part`, and its (id, type, resolved target) rows."""
        rels = _rels_name(part)
        xml = self._rels.get(rels) or (self.text(rels) if rels in self.parts else "")
        rows = []
        if xml:
            root = parse(xml)
            for child in root:
                if child.tag != f"{{{PACKAGE_REL}}}Relationship" or child.get("TargetMode") == "External":
                    continue
                target = child.get("Target", "")
                resolved = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                    posixpath.join(posixpath.dirname(part), target))
                rows.append((child.get("Id", ""), child.get("Type", ""), resolved))
        return rels, rows

    def add_relationship(self, part: str, kind: str, target: str) -> str:
        """Add a relationship from `part` to `target` (a part name); returns its new Id."""
        rels = _rels_name(part)
        xml = self._rels.get(rels) or (self.text(rels) if rels in self.parts else "")
        ids = {child.get("Id") for child in parse(xml)} if xml else set()  # external ones too
        new_id = next(f"rIdXlq{n}" for n in range(1, 10_000) if f"rIdXlq{n}" not in ids)
        relative = posixpath.relpath(target, posixpath.dirname(part))
        element = f'<Relationship Id="{new_id}" Type="{OFFICE_REL}/{kind}" Target="{escape(relative)}"/>'
        if not xml:
            xml = f'{DECLARATION}<Relationships xmlns="{PACKAGE_REL}"></Relationships>'
        self._rels[rels] = before_close(xml, "Relationships", element)
        return new_id

    def add_part(self, name: str, xml: str, content_type: str | None = None) -> None:
        self.added[name] = xml
        if content_type:
            self.content_types[name] = content_type

    def main_part(self) -> str:
        """The workbook's part name (from the package's own relationships)."""
        _, rows = self.relationships("")
        officedoc = [t for _, kind, t in rows if kind == f"{OFFICE_REL}/officeDocument"]
        if len(officedoc) != 1:
            raise NotSpliceable("not one workbook part")
        return officedoc[0]

    def write(self, dst: str, edited: dict[str, str]) -> None:
        """The copy: every part in its order, edited where edited, then the new parts."""
        types = self.text("[Content_Types].xml")
        root = parse(types)
        if root.tag != f"{{{CONTENT_TYPES}}}Types":
            raise NotSpliceable("no content types")
        extensions = {c.get("Extension", "").lower() for c in root if c.tag.endswith("}Default")}
        additions = [f'<Override PartName="/{escape(name)}" ContentType="{kind}"/>'
                     for name, kind in self.content_types.items()]
        additions[:0] = [f'<Default Extension="{ext}" ContentType="{kind}"/>'
                         for ext, kind in self.defaults.items() if ext not in extensions]
        texts = {**self.added, **self._rels, **edited,
                 "[Content_Types].xml": before_close(types, "Types", "".join(additions))}
        out = {name: xml.encode("utf-8") for name, xml in texts.items()}
        for name, data in out.items():
            well_formed(name, data)  # or nothing is written
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name, data in self.parts.items():
                archive.writestr(name, out.pop(name, data))
            for name, data in out.items():
                archive.writestr(name, data)


class WorksheetEdits:
    """A worksheet's XML and edits to it. Its root's children are found once,
    by an exact scan of the tags outside `sheetData` (plain XML: every `<` starts a tag), so an
    edit lands on the element it names and a new element goes where ECMA-376 orders it. Edits
    are collected against that one scan and applied together (`xml`)."""

    def __init__(self, xml: str) -> None:
        if not default_namespace(xml, "worksheet"):
            raise NotSpliceable("not a transitional worksheet")
        self.original = xml
        self.children = self._scan()
        self._edits: list[tuple[int, int, int, str]] = []  # start, end, order, text

    def _scan(self) -> list[tuple[str, int, int]]:
        """(name, start, end) of each child of the root, in order."""
        xml, out, depth = self.original, [], 0
        pos = xml.index("?>") + 2 if xml.startswith("<?xml") else 0
        name, start = "", 0
        while (at := xml.find("<", pos)) >= 0:
            tag = TAG.match(xml, at)
            if tag is None:
                raise NotSpliceable("a tag that cannot be read")
            pos = tag.end()
            if tag[1]:  # a closing tag
                depth -= 1
                if depth == 1:
                    out.append((name, start, pos))
            elif tag[4]:  # an empty element
                if depth == 1:
                    out.append((tag[2], at, pos))
            elif depth == 1 and tag[2] == "sheetData":  # its rows are searched only for the cells flagged
                close = xml.find("</sheetData>", pos)
                if close < 0:
                    raise NotSpliceable("sheetData not closed")
                pos = close + len("</sheetData>")
                out.append(("sheetData", at, pos))
            else:
                if depth == 1:
                    name, start = tag[2], at
                depth += 1
        return out

    @property
    def xml(self) -> str:
        """The sheet with every edit made (an insert goes before a tag rewritten at its place)."""
        pieces, pos = [], 0
        for start, end, _, text in sorted(self._edits):
            pieces += [self.original[pos:start], text]
            pos = end
        return "".join(pieces) + self.original[pos:]

    def edit(self, start: int, end: int, text: str) -> None:
        """Replace the original text from `start` to `end` with `text` (an insert when they are equal)."""
        self._edits.append((start, end, len(self._edits), text))  # inserts at one place keep their order

    def child(self, name: str) -> tuple[int, int] | None:
        return next(((start, end) for tag, start, end in self.children if tag == name), None)

    def insert(self, name: str, element: str) -> None:
        """Add a child where the schema orders it: before the first later child present."""
        later = set(WORKSHEET_ORDER[WORKSHEET_ORDER.index(name) + 1:])
        at = next((start for tag, start, _ in self.children if tag in later), None)
        if at is None:
            at = self.original.rindex("</")  # the root's closing tag
        self.edit(at, at, element)

    def retag(self, start: int, change) -> None:
        """Rewrite the start tag at `start` with `change(attributes)`."""
        tag = TAG.match(self.original, start)
        self.edit(start, tag.end(), f"<{tag[2]}{attribute_text(change(attributes(tag[3])))}{tag[4]}>")

    def within(self, span: tuple[int, int], name: str, change) -> None:
        """Rewrite every `<name ...>` start tag inside `span` with `change(attributes)`."""
        for match in re.finditer(rf"<{name}[\s/>]", self.original[span[0]:span[1]]):
            self.retag(span[0] + match.start(), change)


def parse(xml: str):
    try:
        return fromstring(xml.encode("utf-8"), forbid_dtd=True)
    except Exception as exc:  # defusedxml's refusals and expat's errors alike: not this writer's file
        raise NotSpliceable(f"not well-formed: {exc}") from None


def attributes(text: str) -> dict[str, str]:
    """A start tag's attributes, name -> the quoted value as written (order kept)."""
    return {m[1]: m[2] for m in _ATTR.finditer(text)}


def _rels_name(part: str) -> str:
    """Where a part's relationships live: `xl/_rels/workbook.xml.rels` for `xl/workbook.xml`."""
    return posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")


def value(attrs: dict[str, str], name: str) -> str:
    """An attribute's value without its quotes ('' when absent); values here are never escaped."""
    return attrs.get(name, '""')[1:-1]


def well_formed(name: str, data: bytes) -> None:
    """Parse `data` (a part about to be written) or raise NotSpliceable; it holds no DTD
    (`Package.text` refuses parts with one, and the new parts are this module's)."""
    parser = expat.ParserCreate()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise NotSpliceable(f"{name} would not be well-formed: {exc}") from None


def attribute_text(attrs: dict[str, str]) -> str:
    return "".join(f" {name}={value}" for name, value in attrs.items())


def tags(xml: str, name: str, change) -> str:
    """Every `<name ...>` start tag rewritten with `change(attributes)`."""
    def one(match: re.Match[str]) -> str:
        return f"<{name}{attribute_text(change(attributes(match[1])))}{match[2]}>"
    return re.sub(rf"<{name}({ATTRS})(/?)>", one, xml)


def default_namespace(xml: str, root: str) -> bool:
    match = re.search(rf"<{root}({ATTRS})>", xml)
    return match is not None and attributes(match[1]).get("xmlns", "").strip("\"'") == MAIN


def after_open(xml: str, name: str, element: str) -> str:
    match = re.search(rf"<{name}({ATTRS})>", xml)
    if match is None:
        raise NotSpliceable(f"no <{name}>")
    return xml[:match.end()] + element + xml[match.end():]


def before_close(xml: str, name: str, element: str) -> str:
    at = xml.rfind(f"</{name}>")
    if at < 0:
        if re.search(rf"<{name}{ATTRS}/>", xml):
            return re.sub(rf"<{name}({ATTRS})/>", lambda m: f"<{name}{m[1]}>{element}</{name}>", xml, count=1)
        raise NotSpliceable(f"no </{name}>")
    return xml[:at] + element + xml[at:]


def position(ref: str) -> tuple[int, int]:
    match = _CELL.match(ref)
    if match is None:
        raise NotSpliceable(f"not a cell: {ref}")
    column = 0
    for letter in match[1]:
        column = column * 26 + ord(letter) - 64
    return int(match[2]), column


def span(ref: str) -> tuple[tuple[int, int], tuple[int, int]]:
    first, _, last = ref.partition(":")
    return position(first), position(last or first)
