"""The master's cell notes written one string per note, through XlsxWriter's own extension
point (`Workbook._get_packager`), with the same bytes XlsxWriter writes.

Why: every flagged, explained or not-simply-accepted cell carries a note, and at 10,000 returns
the master has ~12,000. XlsxWriter writes each one as ~25 separate element calls into two parts
(the note's text in `xl/commentsN.xml`, its box in `xl/drawings/vmlDrawingN.vml`): ~1 s of a
~3 s master (benchmarks/RESULTS.md, ninth round). Here each note is one formatted string.

Only the per-note element is replaced; XlsxWriter still lays out the notes (their boxes and
anchors), writes the rest of both parts, and everything else in the file. The text goes through
XlsxWriter's own escaping. tests/test_note_parts.py writes workbooks both ways, notes at the
sheet's edges, in its first row, with markup, control characters, leading spaces and several
authors among them, and compares the parts byte for byte: a new XlsxWriter that writes notes
differently fails there, not in a user's Excel.
"""

from __future__ import annotations

from typing import Any

from xlsxwriter.comments import Comments, CommentType
from xlsxwriter.packager import Packager
from xlsxwriter.utility import _preserve_whitespace, xl_rowcol_to_cell
from xlsxwriter.vml import Vml
from xlsxwriter.workbook import Workbook


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


class _NotesPackager(Packager):
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


class NotedWorkbook(Workbook):
    """An XlsxWriter workbook whose cell notes are written by `_NotesPackager`."""

    def _get_packager(self) -> Any:
        return _NotesPackager()
