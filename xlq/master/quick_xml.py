"""The master's most repeated XML, its cells and its cell notes, written one string each
through XlsxWriter's own extension points, with the same bytes XlsxWriter writes.

Why: at 10,000 returns the master has ~180,000 cells and ~12,000 notes, and XlsxWriter writes
each through several generic element calls (a note ~25 of them, into two parts: its text in
`xl/commentsN.xml`, its box in `xl/drawings/vmlDrawingN.vml`). The notes took ~1 s of a ~3 s
master; writing notes and cells one string each takes ~0.7 s off it (benchmarks/RESULTS.md,
ninth round).

Only the innermost element is replaced, and only for what xlq writes: a formatted number, date,
string or blank cell (anything else, or a workbook in constant-memory mode, goes to XlsxWriter's
own `_write_cell`), and a note. XlsxWriter still lays everything out (shared strings, formats,
the notes' boxes and anchors) and writes the rest of every part and of the file; text goes
through its own escaping. tests/test_quick_xml.py writes workbooks both ways, cells of every
kind and notes of every shape among them, and the demo's master, and compares the packages byte
for byte: a new XlsxWriter that writes either differently fails there, not in a user's Excel.
"""

from __future__ import annotations

from typing import Any

import xlsxwriter
from xlsxwriter.comments import Comments, CommentType
from xlsxwriter.packager import Packager
from xlsxwriter.utility import _preserve_whitespace, xl_rowcol_to_cell, xl_rowcol_to_cell_fast
from xlsxwriter.vml import Vml
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

CHECKED = xlsxwriter.__version__.startswith("3.3.")
"""Whether the installed XlsxWriter is a version these classes were compared with, byte for byte
(tests/test_quick_xml.py). They override its private methods, so on any other version
`QuickWorkbook` is XlsxWriter's own `Workbook`: the same master, written as before, slower."""

_QUICK_CELLS = frozenset(("Number", "Datetime", "String", "RichString", "Blank"))


class _QuickWorksheet(Worksheet):
    """A formatted number, date, string or blank cell as `Worksheet._write_cell` writes it, in one
    write (every cell of the master has a format); XlsxWriter's own method for anything else."""

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = type(cell).__name__
        if not (cell.format and kind in _QUICK_CELLS) or self.constant_memory:
            super()._write_cell(row, col, cell)
            return
        head = f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{cell.format._get_xf_index()}"'
        if kind == "Blank":
            self.fh.write(head + "/>")
        elif kind in ("String", "RichString"):  # the index of the shared string
            self.fh.write(f'{head} t="s"><v>{cell.string}</v></c>')
        else:
            self.fh.write(f"{head}><v>{cell.number:.16G}</v></c>")


class _NoteBoxes(Vml):
    """vmlDrawingN.vml: a note's box, as `Vml._write_comment_shape` writes it, in one write."""

    def _write_comment_shape(self, shape_id: int, z_index: int, comment: CommentType) -> None:
        left, top, width, height = self._pixels_to_points(comment.vertices)
        col_start, row_start, x1, y1, col_end, row_end, x2, y2 = comment.vertices[:8]
        visible = bool(comment.is_visible)
        fill = self._escape_attributes(comment.color._vml_rgb_hex_value())
        self.fh.write(
            f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="position:absolute;'
            f"margin-left:{left:.15g}pt;margin-top:{top:.15g}pt;width:{width:.15g}pt;height:{height:.15g}pt;"
            f'z-index:{z_index};visibility:{"visible" if visible else "hidden"}" fillcolor="{fill}" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"></div></v:textbox><x:ClientData ObjectType="Note">'
            "<x:MoveWithCells/><x:SizeWithCells/>"
            f"<x:Anchor>{col_start}, {x1}, {row_start}, {y1}, {col_end}, {x2}, {row_end}, {y2}</x:Anchor>"
            f"<x:AutoFill>False</x:AutoFill><x:Row>{comment.row}</x:Row><x:Column>{comment.col}</x:Column>"
            f'{"<x:Visible/>" if visible else ""}</x:ClientData></v:shape>'
        )


class _NoteTexts(Comments):
    """commentsN.xml: a note's text, as `Comments._write_comment` writes it, in one write."""

    def _write_comment(self, comment: CommentType, author_id: int) -> None:
        author = f' authorId="{author_id}"' if author_id != -1 else ""
        space = ' xml:space="preserve"' if _preserve_whitespace(comment.text) else ""
        text = self._escape_control_characters(self._escape_data(comment.text))
        self.fh.write(
            f'<comment ref="{xl_rowcol_to_cell(comment.row, comment.col)}"{author}><text><r><rPr>'
            f'<sz val="{comment.font_size}"/><color indexed="81"/>'
            f'<rFont val="{self._escape_attributes(comment.font_name)}"/><family val="{comment.font_family}"/>'
            f"</rPr><t{space}>{text}</t></r></text></comment>"
        )


class _QuickPackager(Packager):
    """XlsxWriter's packager, with the two note parts written by the classes above. The two
    loops are XlsxWriter's own (packager.py), with the writer classes swapped."""

    def _write_vml_files(self) -> None:
        index = 1
        for worksheet in self.workbook.worksheets():
            if worksheet.has_vml:
                vml = _NoteBoxes()
                vml._set_xml_writer(self._filename(f"xl/drawings/vmlDrawing{index}.vml"))
                vml._assemble_xml_file(worksheet.vml_data_id, worksheet.vml_shape_id,
                                       worksheet.comments_list, worksheet.buttons_list)
                index += 1
            if worksheet.has_header_vml:
                vml = Vml()
                vml._set_xml_writer(self._filename(f"xl/drawings/vmlDrawing{index}.vml"))
                vml._assemble_xml_file(worksheet.vml_header_id, worksheet.vml_header_id * 1024, None, None,
                                       worksheet.header_images_list)
                self._write_vml_drawing_rels_file(worksheet, index)
                index += 1

    def _write_comment_files(self) -> None:
        index = 1
        for worksheet in self.workbook.worksheets():
            if worksheet.has_comments:
                texts = _NoteTexts()
                texts._set_xml_writer(self._filename(f"xl/comments{index}.xml"))
                texts._assemble_xml_file(worksheet.comments_list)
                index += 1


class QuickWorkbook(Workbook):
    """An XlsxWriter workbook whose sheets are `_QuickWorksheet`s and whose notes are written
    by `_QuickPackager`, on a `CHECKED` XlsxWriter."""

    def add_worksheet(self, name: str | None = None, worksheet_class: Any = None) -> Any:
        return super().add_worksheet(name, worksheet_class or (_QuickWorksheet if CHECKED else None))

    def _get_packager(self) -> Any:
        return _QuickPackager() if CHECKED else super()._get_packager()
