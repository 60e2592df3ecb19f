"""Read an .xlsx the way Excel does, part by part, so tests check what is in the file.

openpyxl would hide exactly what these tests pin down (it drops sparklines and x14 parts),
so this unzips the package and parses the XML with the standard library.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
    "x14": "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main",
    "xm": "http://schemas.microsoft.com/office/excel/2006/main",
}
R_ID = f"{{{NS['r']}}}id"


@dataclass(frozen=True)
class Cell:
    ref: str
    type: str | None  # "s", "inlineStr", "str", "b", "e" or None (a number)
    value: str | None  # the shared string's text for "s"
    formula: str | None
    style: int


def split_ref(ref: str) -> tuple[int, int]:
    """`F12` -> (row 11, col 5), zero-based like XlsxWriter."""
    match = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", ref)
    assert match, ref
    col = 0
    for ch in match[1]:
        col = col * 26 + ord(ch) - 64
    return int(match[2]) - 1, col - 1


class Xlsx:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        with zipfile.ZipFile(self.path) as zf:
            self.parts = {name: zf.read(name) for name in zf.namelist()}
        workbook = self.xml("xl/workbook.xml")
        rels = self._rels("xl/workbook.xml")
        self.sheet_parts: dict[str, str] = {}
        self.sheet_names: list[str] = []
        for sheet in workbook.iterfind("m:sheets/m:sheet", NS):
            name = sheet.get("name", "")
            self.sheet_names.append(name)
            self.sheet_parts[name] = rels[sheet.get(R_ID, "")]
        self.workbook = workbook
        strings = self.xml("xl/sharedStrings.xml") if "xl/sharedStrings.xml" in self.parts else None
        self.strings = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t"))
                        for si in (strings.iterfind("m:si", NS) if strings is not None else [])]

    def xml(self, part: str) -> ET.Element:
        return ET.fromstring(self.parts[part])

    def _rels(self, part: str) -> dict[str, str]:
        folder, name = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", name + ".rels")
        if rels_part not in self.parts:
            return {}
        out = {}
        for rel in self.xml(rels_part).iterfind("rel:Relationship", NS):
            target = rel.get("Target", "")
            if rel.get("TargetMode") != "External":
                target = posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id", "")] = target
        return out

    def sheet(self, name: str) -> ET.Element:
        return self.xml(self.sheet_parts[name])

    def sheet_text(self, name: str) -> str:
        return self.parts[self.sheet_parts[name]].decode("utf-8")

    def cells(self, name: str) -> dict[str, Cell]:
        out = {}
        for c in self.sheet(name).iterfind("m:sheetData/m:row/m:c", NS):
            kind = c.get("t")
            v = c.find("m:v", NS)
            f = c.find("m:f", NS)
            value = v.text if v is not None else None
            if kind == "s" and value is not None:
                value = self.strings[int(value)]
            elif kind == "inlineStr":
                value = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
            out[c.get("r", "")] = Cell(c.get("r", ""), kind, value, f.text if f is not None else "", int(c.get("s", "0")))
        return out

    def number_format(self, style: int) -> str:
        styles = self.xml("xl/styles.xml")
        xf = styles.findall("m:cellXfs/m:xf", NS)[style]
        fmt_id = int(xf.get("numFmtId", "0"))
        custom = {int(n.get("numFmtId", "0")): n.get("formatCode", "") for n in styles.iterfind("m:numFmts/m:numFmt", NS)}
        builtin = {0: "General", 3: "#,##0", 9: "0%", 10: "0.00%", 14: "mm-dd-yy", 17: "mmm-yy"}
        return custom.get(fmt_id, builtin.get(fmt_id, str(fmt_id)))

    def cell_style(self, style: int) -> dict[str, str]:
        """The fill colour, fill pattern and left border of a cell style, for appearance checks."""
        styles = self.xml("xl/styles.xml")
        xf = styles.findall("m:cellXfs/m:xf", NS)[style]
        fill = styles.findall("m:fills/m:fill", NS)[int(xf.get("fillId", "0"))].find("m:patternFill", NS)
        border = styles.findall("m:borders/m:border", NS)[int(xf.get("borderId", "0"))].find("m:left", NS)
        out = {"pattern": fill.get("patternType", "") if fill is not None else "", "fill": "", "border": ""}
        if fill is not None:
            colour = fill.find("m:fgColor", NS)
            out["fill"] = colour.get("rgb", "") if colour is not None else ""
        if border is not None:
            colour = border.find("m:color", NS)
            out["border"] = f"{border.get('style', '')} {colour.get('rgb', '') if colour is not None else ''}".strip()
        return out

    def dxf_fill(self, dxf_id: int) -> str:
        dxf = self.xml("xl/styles.xml").findall("m:dxfs/m:dxf", NS)[dxf_id]
        colour = dxf.find("m:fill/m:patternFill/m:bgColor", NS)
        return colour.get("rgb", "") if colour is not None else ""

    def conditional_formats(self, name: str) -> dict[str, list[tuple[str, str, str]]]:
        """sqref -> [(rule type, formula, fill colour)] in priority order."""
        out: dict[str, list[tuple[str, str, str]]] = {}
        for cf in self.sheet(name).iterfind("m:conditionalFormatting", NS):
            rules = sorted(cf.iterfind("m:cfRule", NS), key=lambda r: int(r.get("priority", "0")))
            out[cf.get("sqref", "")] = [
                (r.get("type", ""), " ".join(f.text or "" for f in r.iterfind("m:formula", NS)),
                 self.dxf_fill(int(r.get("dxfId"))) if r.get("dxfId") is not None else "")
                for r in rules
            ]
        return out

    def sparkline_groups(self, name: str) -> list[dict]:
        groups = []
        for group in self.sheet(name).iter(f"{{{NS['x14']}}}sparklineGroup"):
            colours = {tag: child.get("rgb", "") for child in group
                       if (tag := child.tag.split("}")[1]).startswith("color")}
            lines = [(s.findtext("xm:f", "", NS), s.findtext("xm:sqref", "", NS))
                     for s in group.iterfind("x14:sparklines/x14:sparkline", NS)]
            groups.append({"attrs": dict(group.attrib), "colours": colours, "sparklines": lines})
        return groups

    def hyperlinks(self, name: str) -> dict[str, dict[str, str]]:
        rels = self._rels(self.sheet_parts[name])
        out = {}
        for link in self.sheet(name).iterfind("m:hyperlinks/m:hyperlink", NS):
            out[link.get("ref", "")] = {"location": link.get("location", ""),
                                        "target": rels.get(link.get(R_ID, ""), "")}
        return out

    def comments(self, name: str) -> dict[str, str]:
        part = next((t for t in self._rels(self.sheet_parts[name]).values() if "comments" in t), None)
        if part is None:
            return {}
        return {c.get("ref", ""): "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
                for c in self.xml(part).iterfind("m:commentList/m:comment", NS)}

    def tables(self, name: str) -> list[ET.Element]:
        return [self.xml(t) for t in self._rels(self.sheet_parts[name]).values() if "/tables/" in t]

    def defined_names(self) -> dict[str, str]:
        out = {}
        for dn in self.workbook.iterfind("m:definedNames/m:definedName", NS):
            sheet = dn.get("localSheetId")
            key = dn.get("name", "") + (f"@{self.sheet_names[int(sheet)]}" if sheet is not None else "")
            out[key] = dn.text or ""
        return out

    def pane(self, name: str) -> dict[str, str]:
        pane = self.sheet(name).find("m:sheetViews/m:sheetView/m:pane", NS)
        return dict(pane.attrib) if pane is not None else {}

    def active_sheet(self) -> str:
        view = self.workbook.find("m:bookViews/m:workbookView", NS)
        return self.sheet_names[int(view.get("activeTab", "0")) if view is not None else 0]
