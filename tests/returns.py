"""Build real return workbooks for tests: a small workspace and catalogue, blank returns
laid out by the template contract (or issued by xlq.template.workbook when it is available), and
`fill`, which types values into any such workbook by indicator Code, as a person would.

Hostile files (zip bombs, huge sheets, OLE look-alikes) are made here too, by hand, so no
test needs a committed binary.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from workspaces import write_workspace

from xlq.core.catalogue import Catalogue
from xlq.core.config import Workspace
from xlq.core.months import month_label

PERIOD = "2023-12"
HEADERS = ("Code", "Indicator", "Unit", "Target", "Last month", "Value", "Numerator", "Denominator", "%", "Comment")
LUT_CODES = ("INC", "INC_LOW", "INC_HIGH", "TRAIN", "SICK", "COMPL", "WAIT")


def make_workspace(root: Path, *, current: str = PERIOD, **watch: object) -> tuple[Workspace, Catalogue]:
    """The sample trust's workspace with the sample catalogue, reporting `current`; `watch`
    overrides settings, e.g. settle_seconds=0.2."""
    workspace, catalogue = write_workspace(root, current=current, settings=watch)
    assert catalogue is not None
    return workspace, catalogue


def real_template(catalogue: Catalogue, workspace: Workspace, path: Path, department: str = "LUT",
                  period: str = PERIOD) -> Path | None:
    """The template xlq.template.workbook issues, or None while that module does not exist yet."""
    try:
        from xlq.template.workbook import write_template
    except ImportError:
        return None
    return write_template(catalogue, workspace, department, period, path)


def blank_return(path: Path, catalogue: Catalogue, workspace: Workspace, *, department: str = "LUT",
                 period: str = PERIOD, codes: Sequence[str] | None = None, meta: Mapping[str, object] | None = None,
                 meta_state: str | None = "veryHidden", header_row: int = 11, first_column: int = 1,
                 headers: Sequence[str] = HEADERS, table_sheet: str = "Return") -> Path:
    """A return laid out by hand following the template contract.

    The knobs make the odd layouts a real file arrives in: rows inserted or reordered
    (`codes`), the table moved (`header_row`, `first_column`), extra or reordered columns
    (`headers`), a metadata sheet that is visible (`meta_state="visible"`, as Google Sheets
    exports it) or missing (`meta_state=None`), and edited metadata (`meta`).
    """
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = table_sheet
    ws["A1"] = workspace.organisation
    ws["A2"] = f"Department: {department}"
    ws["A3"] = f"Period: {month_label(period)}"
    for row, label in ((6, "Prepared by"), (7, "Email"), (8, "Date")):
        ws.cell(row, 1, label)
    for offset, title in enumerate(headers):
        ws.cell(header_row, first_column + offset, title)
    col = {title: first_column + i for i, title in enumerate(headers)}
    wanted = codes if codes is not None else [
        i.code for i in catalogue.for_department(department, period, workspace.department_codes)]
    row = header_row
    domain = None
    for code in wanted:
        row += 1
        indicator = next((i for i in catalogue.indicators if i.code == code), None)
        if indicator is not None and indicator.domain != domain:
            domain = indicator.domain
            ws.cell(row, col.get("Indicator", first_column), domain)
            row += 1
        ws.cell(row, col["Code"], code)
        if indicator is not None and "Indicator" in col:
            ws.cell(row, col["Indicator"], indicator.name)
        if indicator is not None and "Unit" in col:
            ws.cell(row, col["Unit"], indicator.unit)
        if "%" in col and "Numerator" in col and "Denominator" in col:
            n, d = (openpyxl.utils.get_column_letter(col[t]) for t in ("Numerator", "Denominator"))
            ws.cell(row, col["%"], f'=IF({d}{row}>0,{n}{row}/{d}{row},"")')
    if meta_state is not None:
        sheet = wb.create_sheet("xlq_meta")
        pairs = {"template": "xlq-return/1", "organisation": workspace.organisation, "department": department,
                 "period": period, "catalogue_version": catalogue.version, "template_version": "1"}
        pairs.update(meta or {})
        for r, (key, value) in enumerate(pairs.items(), 1):
            sheet.cell(r, 1, key)
            sheet.cell(r, 2, value)
        sheet.sheet_state = meta_state
    wb.save(path)
    return path


@dataclass(frozen=True)
class Filled:
    """A filled return and where each typed value landed (`refs[code, column]` -> "F14")."""

    path: Path
    refs: dict[tuple[str, str], str]
    codes: tuple[tuple[str, str], ...] = ()

    def ref(self, code: str, column: str = "Value") -> str:
        return self.refs[code, column]


def fill(source: Path, target: Path, cells: Mapping[str, Mapping[str, object]],
         contact: Mapping[str, object] | None = None, meta: Mapping[str, object] | None = None) -> Filled:
    """Type `cells` ({code: {column title: value}}) into a contract workbook, by Code.

    Strings starting with "=" become formulas (saved without a result, as openpyxl does);
    "#DIV/0!" and the like become Excel error cells. `meta` edits the identity sheet, the
    way someone might to pass one department's template off as another's.
    """
    wb = openpyxl.load_workbook(source)
    if meta:
        sheet = wb["xlq_meta"]
        for row in sheet.iter_rows(max_col=2):
            if row[0].value in meta:
                row[1].value = meta[row[0].value]
    ws = wb["Return"] if "Return" in wb.sheetnames else wb.worksheets[0]
    header_row, columns = _find_header(ws)
    refs: dict[tuple[str, str], str] = {}
    codes: list[tuple[str, str]] = []
    for row in ws.iter_rows(min_row=header_row + 1):
        for cell in row:
            if cell.column == columns["Code"] and cell.value is not None:
                code = str(cell.value).strip()
                codes.append((code, cell.coordinate))
                for title, col in columns.items():
                    refs.setdefault((code, title), f"{openpyxl.utils.get_column_letter(col)}{cell.row}")
                for title, value in cells.get(code, {}).items():
                    ws.cell(cell.row, columns[title]).value = value
    for label, value in (contact or {"Prepared by": "A. Tester", "Email": "a.tester@example.nhs.uk",
                                     "Date": dt.date(2024, 1, 5)}).items():
        for row in ws.iter_rows(max_row=header_row - 1, max_col=1):
            if row[0].value == label:
                ws.cell(row[0].row, 2).value = value
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return Filled(target, refs, tuple(codes))


def _find_header(ws) -> tuple[int, dict[str, int]]:
    for row in ws.iter_rows(max_row=200):
        titles = {str(c.value).strip(): c.column for c in row if isinstance(c.value, str)}
        if "Code" in titles and "Value" in titles:
            return row[0].row, titles
    raise AssertionError("no header row")


GOOD = {
    "INC": {"Value": 12}, "INC_LOW": {"Value": 10}, "INC_HIGH": {"Value": 2},
    "TRAIN": {"Value": 0.95}, "SICK": {"Value": "4.5%"},
    "COMPL": {"Numerator": 4, "Denominator": 5}, "WAIT": {"Value": 17.5},
}
"""A correct LUT return: no findings at all."""


# ---- hostile files, crafted by hand -------------------------------------------------------

def zip_with(path: Path, members: Mapping[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def rewrite_member(source: Path, target: Path, name: str, edit) -> Path:
    """Copy a workbook, passing one member's text through `edit`."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == name:
                data = edit(data.decode("utf-8")).encode("utf-8")
            zout.writestr(info.filename, data)
    return target


def zip_bomb(path: Path, inflated: int = 100 * 1024 * 1024) -> Path:
    """A workbook-shaped zip whose sheet inflates to `inflated` bytes of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(inflated >> 20):
                member.write(block)
    path.write_bytes(buffer.getvalue())
    return path


def ole_file(path: Path, stream: str) -> Path:
    """A minimal OLE compound file whose directory names one stream (`EncryptedPackage`
    for a password-protected workbook, `Workbook` for a legacy .xls)."""
    sector = 512
    header = bytearray(sector)
    header[0:8] = bytes.fromhex("d0cf11e0a1b11ae1")
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 44, 1)   # one FAT sector
    struct.pack_into("<I", header, 48, 1)   # directory starts at sector 1
    struct.pack_into("<I", header, 56, 4096)
    struct.pack_into("<I", header, 60, 0xFFFFFFFE)
    struct.pack_into("<I", header, 68, 0xFFFFFFFE)
    struct.pack_into("<I", header, 76, 0)   # FAT in sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, 0xFFFFFFFF)
    fat = bytearray(b"\xff" * sector)
    struct.pack_into("<III", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFE)
    directory = bytearray(sector)
    for index, (name, kind) in enumerate((("Root Entry", 5), (stream, 2))):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\0\0"
        entry[0:len(encoded)] = encoded
        struct.pack_into("<HB", entry, 64, len(encoded), kind)
        directory[index * 128:(index + 1) * 128] = entry
    path.write_bytes(bytes(header) + bytes(fat) + bytes(directory) + bytes(sector))
    return path
