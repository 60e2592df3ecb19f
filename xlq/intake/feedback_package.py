"""The feedback copy written by editing the return's package: its parts are copied as they are,
and only what the copy adds is written.

openpyxl's load and save of a return costs 60-85 ms, and a cold run writes a copy for every return
with a warning (issue 20), so this writer edits the package instead (about 6 ms): the summary
sheet is a new part; each flagged cell gets a new cell format (a clone of its own with the fill
and border changed, so its number format and protection stay); the notes are a comments part and
its VML drawing; and the workbook, its relationships, the content types, the styles and the
Return sheet's print settings get the edits they need, made exactly (`xlq.intake.package_xml`).

The package is untrusted (this runs in the worker child, after the file passed the sniff).
Whatever this writer is not sure of (a part that is not plain XML, notes already on a sheet, a
flagged cell inside a merged range or never written, the summary's name taken, custom views,
strict OOXML ...) raises `NotSpliceable`, and `xlq.intake.feedback_book` writes the copy with
openpyxl instead. Both write `xlq.intake.feedback.lay_out`'s layout.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from html import escape

from xlq.intake.feedback import EDGES, FILLS, INKS, SUMMARY_SHEET, WIDTHS, CellNote, FeedbackLayout, Mark, lay_out
from xlq.intake.package_xml import (
    ATTRS,
    DECLARATION,
    MAIN,
    OFFICE_REL,
    TAG,
    NotSpliceable,
    Package,
    WorksheetEdits,
    after_open,
    attribute_text,
    attributes,
    before_close,
    default_namespace,
    parse,
    position,
    span,
    tags,
    value,
)

SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
COMMENTS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
VML_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"


def splice_feedback(src: str, dst: str, marks: Sequence[Mark], title: str, lines: Sequence[str]) -> None:
    """Write the feedback copy of `src` to `dst` (see `xlq.intake.feedback_book.write_feedback`)."""
    package = Package.read(src)
    book = _Workbook(package, package.main_part())
    default = "Return" if "Return" in book.sheets else next(iter(book.sheets), None)
    if default is None or SUMMARY_SHEET in book.sheets:
        raise NotSpliceable("no sheet, or the summary's name is taken")
    layout = lay_out(marks, title, lines, list(book.sheets), default)
    styles = _Styles(package.text(book.styles))
    summary_xf = styles.summary(layout)

    edited: dict[str, str] = {}
    for name, part in book.sheets.items():
        notes = [n for n in layout.notes if n.sheet == name]
        if not notes and name != default and b"tabSelected" not in package.parts[part]:
            continue  # copied as it is
        sheet = WorksheetEdits(package.text(part))
        _deselect(sheet)
        if notes:
            _mark_cells(sheet, notes, styles)
            _add_notes(package, part, sheet, notes)
        if name == default:
            _print_on_a4(sheet, landscape=True)
        edited[part] = sheet.xml
    summary_part = package.free_name(posixpath.join(posixpath.dirname(book.part), "worksheets/sheet{}.xml"))
    edited[summary_part] = _summary_sheet(layout, summary_xf)
    edited[book.part] = book.with_summary(package.add_relationship(book.part, "worksheet", summary_part),
                                          layout.header_row)
    edited[book.styles] = styles.xml
    package.content_types[summary_part] = SHEET_TYPE
    package.write(dst, edited)


def _add_notes(package: Package, part: str, sheet: WorksheetEdits, notes: Sequence[CellNote]) -> None:
    """A comments part and its VML drawing for `notes` on sheet `part`, and the sheet's
    `legacyDrawing`. A sheet that already has notes or controls is refused."""
    if sheet.child("legacyDrawing") is not None or any(kind.endswith("/comments") for _, kind, _ in
                                                       package.relationships(part)[1]):
        raise NotSpliceable("the sheet already has notes")
    number = sum(name.endswith(".vml") for name in package.added) + 1
    comments = package.free_name(f"xl/xlq-notes{number}-{{}}.xml")
    drawing = comments[:-4] + ".vml"
    package.add_part(comments, _comments(notes), COMMENTS_TYPE)
    package.add_part(drawing, _vml(notes, number))
    package.defaults["vml"] = VML_TYPE
    package.add_relationship(part, "comments", comments)
    rid = package.add_relationship(part, "vmlDrawing", drawing)
    sheet.insert("legacyDrawing", f'<legacyDrawing xmlns:r="{OFFICE_REL}" r:id="{rid}"/>')


class _Workbook:
    """The workbook part: its sheets (name -> part, in order) and the styles part."""

    def __init__(self, package: Package, part: str) -> None:
        self.package, self.part = package, part
        self.xml = package.text(part)
        root = parse(self.xml)
        if root.tag != f"{{{MAIN}}}workbook" or not default_namespace(self.xml, "workbook"):
            raise NotSpliceable("not a transitional workbook")
        if re.search(r"<(customWorkbookViews|functionGroups|externalReferences)[\s/>]", self.xml):
            raise NotSpliceable("custom views or external references")
        _, rows = package.relationships(part)
        targets = {rid: target for rid, _, target in rows}
        self.sheets: dict[str, str] = {}
        sheets = root.find(f"{{{MAIN}}}sheets")
        for sheet in sheets if sheets is not None else ():
            target = targets.get(sheet.get(f"{{{OFFICE_REL}}}id", ""))
            if target is None or target not in package.parts or sheet.get("name", "") in self.sheets:
                raise NotSpliceable("a sheet without its part, or a name twice")
            self.sheets[sheet.get("name", "")] = target
        self.sheet_ids = [int(s.get("sheetId", "0")) for s in sheets] if sheets is not None else []
        styles = [t for _, kind, t in rows if kind == f"{OFFICE_REL}/styles"]
        if len(styles) != 1:
            raise NotSpliceable("not one styles part")
        self.styles = styles[0]

    def with_summary(self, rid: str, header_row: int) -> str:
        """The workbook XML with the summary sheet first and active, and every sheet-scoped
        name moved up one place (a `localSheetId` is the sheet's position)."""
        element = (f'<sheet xmlns:r="{OFFICE_REL}" name="{SUMMARY_SHEET}" sheetId="{max(self.sheet_ids, default=0) + 1}" '
                   f'r:id="{rid}"/>')
        xml = after_open(self.xml, "sheets", element)
        xml = tags(xml, "workbookView", lambda attrs: {**attrs, "activeTab": '"0"', "firstSheet": '"0"'})

        def shift(attrs: dict[str, str]) -> dict[str, str]:
            if "localSheetId" in attrs:
                value = attrs["localSheetId"].strip("\"'")
                if not value.isdigit():
                    raise NotSpliceable("a sheet-scoped name without a number")
                attrs = {**attrs, "localSheetId": f'"{int(value) + 1}"'}
            return attrs

        xml = tags(xml, "definedName", shift)
        titles = (f'<definedName name="_xlnm.Print_Titles" localSheetId="0">'
                  f"'{SUMMARY_SHEET}'!${header_row}:${header_row}</definedName>")
        if re.search(r"<definedNames[\s>]", xml):
            return before_close(xml, "definedNames", titles)
        return xml.replace("</sheets>", f"</sheets><definedNames>{titles}</definedNames>", 1)


class _Styles:
    """styles.xml, with the fonts, fills, borders and cell formats the copy adds."""

    def __init__(self, xml: str) -> None:
        if not default_namespace(xml, "styleSheet"):
            raise NotSpliceable("not a transitional style sheet")
        self.xml = xml
        self._font_name = re.search(r"<fonts\b.*?<name\s+val=(\"[^\"<]*\"|'[^'<]*')", xml, re.S)
        self._marked: dict[tuple[str, str], int] = {}

    def _append(self, block: str, child: str, elements: Sequence[str]) -> int:
        """Append `elements` to `<block>`; the index of the first one."""
        start = re.search(rf"<{block}({ATTRS})>", self.xml)
        end = self.xml.find(f"</{block}>", start.end()) if start else -1
        if start is None or end < 0:
            raise NotSpliceable(f"no {block}")
        first = len(re.findall(rf"<{child}[\s/>]", self.xml[start.end():end]))
        attrs = attributes(start[1])
        attrs["count"] = f'"{first + len(elements)}"'
        opening = f"<{block}{attribute_text(attrs)}>"
        self.xml = self.xml[:start.start()] + opening + self.xml[start.end():end] + "".join(elements) + self.xml[end:]
        return first

    def font(self, *, size: int | None = None, colour: str, underline: bool = False, bold: bool = True) -> str:
        name = f"<name val={self._font_name[1]}/>" if self._font_name else ""
        return (("<b/>" if bold else "") + ("<u/>" if underline else "") + (f'<sz val="{size}"/>' if size else "")
                + f'<color rgb="FF{colour}"/>' + name).join(("<font>", "</font>"))

    @staticmethod
    def fill(colour: str) -> str:
        return f'<fill><patternFill patternType="solid"><fgColor rgb="FF{colour}"/><bgColor indexed="64"/></patternFill></fill>'

    def summary(self, layout: FeedbackLayout) -> dict[str, int]:
        """The summary sheet's cell formats, by `SummaryCell.style`."""
        fonts = self._append("fonts", "font", [
            self.font(size=15, colour=layout.headline_colour), self.font(size=12, colour="005EB8"),
            self.font(colour="FFFFFF"), self.font(colour=INKS["error"]), self.font(colour=INKS["warning"]),
            self.font(colour="0563C1", underline=True, bold=False)])
        fills = self._append("fills", "fill", [self.fill("1F3864"), self.fill(FILLS["error"]), self.fill(FILLS["warning"])])
        wrap = '<alignment wrapText="1" vertical="top"/>'
        formats = {"headline": (fonts, 0, ""), "heading": (fonts + 1, 0, ""), "header": (fonts + 2, fills, ""),
                   "text": (0, 0, wrap), "error": (fonts + 3, fills + 1, wrap), "warning": (fonts + 4, fills + 2, wrap),
                   "link": (fonts + 5, 0, wrap)}
        first = self._append("cellXfs", "xf", [
            f'<xf numFmtId="0" fontId="{font}" fillId="{fill}" borderId="0" xfId="0" applyFont="1" applyFill="1"'
            + (f' applyAlignment="1">{alignment}</xf>' if alignment else "/>") for font, fill, alignment in formats.values()])
        return {style: first + n for n, style in enumerate(formats)}

    def marked(self, style: str, worst: str) -> int:
        """A flagged cell's format: its own (`style`, an index) with the severity's fill and border."""
        key = (style, worst)
        if key not in self._marked:
            block = re.search(r"<cellXfs\b[^<]*>(.*?)</cellXfs>", self.xml, re.S)
            formats = re.findall(rf"<xf{ATTRS}(?:/>|>.*?</xf>)", block[1], re.S) if block else []
            if not block or len(formats) != len(re.findall(r"<xf[\s/>]", block[1])) or not style.isdigit() \
                    or int(style) >= len(formats):
                raise NotSpliceable("a cell format that cannot be found")
            fill = self._append("fills", "fill", [self.fill(FILLS[worst])])
            edge = f'style="medium"><color rgb="FF{EDGES[worst]}"/>'
            border = self._append("borders", "border", [
                f"<border><left {edge}</left><right {edge}</right><top {edge}</top><bottom {edge}</bottom><diagonal/></border>"])
            original = formats[int(style)]
            opening = re.match(rf"<xf({ATTRS})(/?)>", original)
            attrs = attributes(opening[1])
            attrs.update(fillId=f'"{fill}"', borderId=f'"{border}"', applyFill='"1"', applyBorder='"1"')
            clone = f"<xf{attribute_text(attrs)}{opening[2]}>" + original[opening.end():]
            self._marked[key] = self._append("cellXfs", "xf", [clone])
        return self._marked[key]


def _deselect(sheet: WorksheetEdits) -> None:
    """No sheet but the summary is selected."""
    views = sheet.child("sheetViews")
    if views is not None:
        sheet.within(views, "sheetView", lambda attrs: {k: v for k, v in attrs.items() if k != "tabSelected"})

def _mark_cells(sheet: WorksheetEdits, notes: Sequence[CellNote], styles: _Styles) -> None:
    """Each noted cell's `s` set to its marked format; refused when a cell is not written
    exactly once or lies inside a merged range."""
    data, merges = sheet.child("sheetData"), sheet.child("mergeCells")
    if data is None:
        raise NotSpliceable("no sheetData")
    merged = []
    if merges is not None:
        merged = [span(value(attributes(m[1]), "ref"))
                  for m in re.finditer(rf"<mergeCell({ATTRS})/?>", sheet.original[merges[0]:merges[1]])]
    rows = sheet.original[data[0]:data[1]]
    if "<c>" in rows or "<c/>" in rows:
        raise NotSpliceable("cells without a reference")
    for note in notes:
        row, column = position(note.ref)
        if any(r1 <= row <= r2 and c1 <= column <= c2 for (r1, c1), (r2, c2) in merged):
            raise NotSpliceable("a flagged cell in a merged range")
        found = set()
        for quoted in (f'"{note.ref}"', f"'{note.ref}'"):
            at = rows.find(quoted)
            while at >= 0:
                start = rows.rfind("<", 0, at)
                tag = TAG.match(rows, start)
                if tag and tag[2] == "c" and tag.end() > at and value(attributes(tag[3]), "r") == note.ref:
                    found.add(start)
                at = rows.find(quoted, at + 1)
        if len(found) != 1:
            raise NotSpliceable(f"cell {note.ref} is not written exactly once")
        sheet.retag(data[0] + found.pop(), lambda attrs, worst=note.worst: {
            **attrs, "s": f'"{styles.marked(value(attrs, "s") or "0", worst)}"'})


def _print_on_a4(sheet: WorksheetEdits, *, landscape: bool) -> None:
    """A4, one page wide, as many pages down as it takes (as `feedback_book._print_on_a4`)."""
    fit = '<pageSetUpPr fitToPage="1"/>'
    properties = sheet.child("sheetPr")
    if properties is None:
        sheet.insert("sheetPr", f"<sheetPr>{fit}</sheetPr>")
    elif sheet.original[properties[1] - 2:properties[1]] == "/>":  # <sheetPr .../>
        tag = TAG.match(sheet.original, properties[0])
        sheet.edit(properties[0], properties[1], f"<sheetPr{tag[3]}>{fit}</sheetPr>")
    elif re.search(r"<pageSetUpPr[\s/>]", sheet.original[properties[0]:properties[1]]):
        sheet.within(properties, "pageSetUpPr", lambda attrs: {**attrs, "fitToPage": '"1"'})
    else:  # pageSetUpPr is sheetPr's last child
        close = sheet.original.rindex("</", properties[0], properties[1])
        sheet.edit(close, close, fit)
    margins = {"left": '"0.5"', "right": '"0.5"', "top": '"0.6"', "bottom": '"0.6"'}
    existing = sheet.child("pageMargins")
    if existing is not None:
        sheet.retag(existing[0], lambda attrs: {**attrs, **margins})
    else:
        sheet.insert("pageMargins", f'<pageMargins{attribute_text(margins)} header="0.5" footer="0.5"/>')
    setup = {"orientation": '"landscape"' if landscape else '"portrait"', "paperSize": '"9"',
             "fitToHeight": '"0"', "fitToWidth": '"1"'}
    existing = sheet.child("pageSetup")
    if existing is not None:
        sheet.retag(existing[0], lambda attrs: {**attrs, **setup})
    else:
        sheet.insert("pageSetup", f"<pageSetup{attribute_text(setup)}/>")


def _summary_sheet(layout: FeedbackLayout, formats: dict[str, int]) -> str:
    rows: dict[int, list[str]] = {}
    for cell in layout.cells:
        ref = f"{'ABCDE'[cell.column - 1]}{cell.row}"
        if isinstance(cell.value, int):
            text = f'<c r="{ref}" s="{formats[cell.style]}"><v>{cell.value}</v></c>'
        elif not cell.value:
            text = f'<c r="{ref}" s="{formats[cell.style]}"/>'
        else:
            space = ' xml:space="preserve"' if cell.value != cell.value.strip() else ""
            text = (f'<c r="{ref}" s="{formats[cell.style]}" t="inlineStr"><is><t{space}>'
                    f"{escape(cell.value, quote=False)}</t></is></c>")
        rows.setdefault(cell.row, []).append(text)
    heights = dict(layout.heights)
    data = "".join(f'<row r="{row}"' + (f' ht="{heights[row]}" customHeight="1"' if row in heights else "") + ">"
                   + "".join(cells) + "</row>" for row, cells in sorted(rows.items()))
    last = max(rows)
    cols = "".join(f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>' for n, width in enumerate(WIDTHS, 1))
    merges = (f'<mergeCells count="{len(layout.merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in layout.merges)
              + "</mergeCells>") if layout.merges else ""
    links = ("<hyperlinks>" + "".join(f'<hyperlink ref="{ref}" location="{escape(location)}" display="{escape(display)}"/>'
                                      for ref, location, display in layout.links) + "</hyperlinks>") if layout.links else ""
    return (f'{DECLARATION}<worksheet xmlns="{MAIN}">'
            f'<sheetPr><tabColor rgb="FFC00000"/><pageSetUpPr fitToPage="1"/></sheetPr><dimension ref="A1:E{last}"/>'
            '<sheetViews><sheetView tabSelected="1" workbookViewId="0"><selection activeCell="A1" sqref="A1"/></sheetView>'
            f'</sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>{data}</sheetData>{merges}{links}'
            '<pageMargins left="0.5" right="0.5" top="0.6" bottom="0.6" header="0.5" footer="0.5"/>'
            '<pageSetup paperSize="9" orientation="portrait" fitToWidth="1" fitToHeight="0"/></worksheet>')


def _comments(notes: Sequence[CellNote]) -> str:
    items = "".join(f'<comment ref="{n.ref}" authorId="0"><text><t xml:space="preserve">{escape(n.text, quote=False)}</t>'
                    "</text></comment>" for n in notes)
    return (f'{DECLARATION}<comments xmlns="{MAIN}">'
            f"<authors><author>xlq</author></authors><commentList>{items}</commentList></comments>")


def _vml(notes: Sequence[CellNote], number: int) -> str:
    """The legacy drawing Excel needs to show notes: one hidden shape per note, by its cell."""
    shapes = []
    for n, note in enumerate(notes):
        row, column = position(note.ref)
        shapes.append(
            f'<v:shape id="_x0000_s{number * 1024 + 2 + n}" type="#_x0000_t202" style="position:absolute;'
            f"margin-left:59.25pt;margin-top:1.5pt;width:{note.width}px;height:{note.height}px;z-index:{n + 1};"
            'visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
            '<v:shadow color="black" obscured="t"/><v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"/></v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:AutoFill>False</x:AutoFill><x:Row>{row - 1}</x:Row><x:Column>{column - 1}</x:Column></x:ClientData></v:shape>")
    return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:x="urn:schemas-microsoft-com:office:excel">'
            f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{number}"/></o:shapelayout>'
            '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
            '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
            + "".join(shapes) + "</xml>")


