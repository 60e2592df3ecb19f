"""xlq.toml and catalogue.toml are kept parsed in `.xlq-cache/` (issue 20): a kept parse is
used only for the exact text it came from, and a cache that cannot be used costs nothing but time."""

from __future__ import annotations

import json
import os
import threading
import tomllib

import pytest

from xlq.core.catalogue import DEFAULT_CATALOGUE, load_catalogue
from xlq.core.config import SAMPLE_CONFIG, load_workspace
from xlq.core.errors import CatalogueError, ConfigError
from xlq.core.toml_cache import CACHE_DIR, load_toml

TEXT = 'name = "Ward 7"\nbeds = [12, 14.5]\n[limits]\nmax = 3\n'


def entries(cache):
    return sorted(p.name for p in cache.glob("*.json")) if cache.exists() else []


def test_a_kept_parse_is_what_the_next_load_returns(tmp_path):
    cache = tmp_path / CACHE_DIR
    assert load_toml(TEXT, cache, "xlq") == tomllib.loads(TEXT)
    [name] = entries(cache)
    assert name.startswith("xlq-") and json.loads((cache / name).read_text(encoding="utf-8")) == tomllib.loads(TEXT)
    (cache / name).write_text('{"name": "kept"}', encoding="utf-8")  # proves the second load reads the entry
    assert load_toml(TEXT, cache, "xlq") == {"name": "kept"}


def test_an_edited_file_is_parsed_again_and_replaces_its_old_entry(tmp_path):
    cache = tmp_path / CACHE_DIR
    load_toml(TEXT, cache, "xlq")
    load_toml("x = 1\n", cache, "catalogue")  # another file's entry is left alone
    [old] = [n for n in entries(cache) if n.startswith("xlq-")]
    edited = TEXT.replace("Ward 7", "Ward 8")
    assert load_toml(edited, cache, "xlq")["name"] == "Ward 8"
    kept = entries(cache)
    assert old not in kept and len(kept) == 2 and any(n.startswith("catalogue-") for n in kept)


def test_only_names_the_cache_writes_are_ever_removed(tmp_path):
    cache = tmp_path / CACHE_DIR
    cache.mkdir()
    theirs = ["xlq-notes.json", "xlq-" + "0" * 63 + ".json", "xlq-" + "A" * 64 + ".json", "xlq.json"]
    for name in theirs:
        (cache / name).write_text("{}", encoding="utf-8")
    stale = cache / ("xlq-" + "f" * 64 + ".json")
    stale.write_text("{}", encoding="utf-8")
    load_toml(TEXT, cache, "xlq")
    assert not stale.exists()
    assert all((cache / name).exists() for name in theirs)


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]", b"\xff\xfe", b'{"name": null}',
                                    b'{"beds": [1, [null]]}', b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path, damage):
    cache = tmp_path / CACHE_DIR
    load_toml(TEXT, cache, "xlq")
    [name] = entries(cache)
    (cache / name).write_bytes(damage)
    assert load_toml(TEXT, cache, "xlq") == tomllib.loads(TEXT)
    assert json.loads((cache / name).read_text(encoding="utf-8")) == tomllib.loads(TEXT)


def test_what_json_cannot_bring_back_exactly_is_never_kept(tmp_path):
    cache = tmp_path / CACHE_DIR
    for text in ("due = 2024-03-31\n", "x = nan\n"):
        data = load_toml(text, cache, "xlq")
        assert repr(data) == repr(tomllib.loads(text))
    assert entries(cache) == []


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path):
    blocked = tmp_path / CACHE_DIR
    blocked.write_text("a file where the folder would be", encoding="utf-8")
    assert load_toml(TEXT, blocked, "xlq") == tomllib.loads(TEXT)
    assert load_toml(TEXT, None, "xlq") == tomllib.loads(TEXT)


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symbolic links")
def test_an_entry_or_a_cache_folder_swapped_for_a_link_is_not_read(tmp_path):
    cache = tmp_path / CACHE_DIR
    load_toml(TEXT, cache, "xlq")
    [name] = entries(cache)
    forged = tmp_path / "forged.json"
    forged.write_text('{"name": "forged"}', encoding="utf-8")
    (cache / name).unlink()
    (cache / name).symlink_to(forged)
    assert load_toml(TEXT, cache, "xlq") == tomllib.loads(TEXT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / name).write_text('{"name": "forged"}', encoding="utf-8")
    linked = tmp_path / "linked-cache"
    linked.symlink_to(elsewhere, target_is_directory=True)
    assert load_toml(TEXT, linked, "xlq") == tomllib.loads(TEXT)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_an_entry_swapped_for_a_pipe_neither_holds_the_command_up_nor_is_read(tmp_path):
    cache = tmp_path / CACHE_DIR
    load_toml(TEXT, cache, "xlq")
    [name] = entries(cache)
    (cache / name).unlink()
    os.mkfifo(cache / name)
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.append(load_toml(TEXT, cache, "xlq")), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "opening the pipe blocked"
    assert got == [tomllib.loads(TEXT)]


def test_a_workspace_keeps_both_files_parsed_and_reads_the_same_back(tmp_path):
    (tmp_path / "xlq.toml").write_text(SAMPLE_CONFIG, encoding="utf-8")
    (tmp_path / "catalogue.toml").write_text(DEFAULT_CATALOGUE.read_text(encoding="utf-8"), encoding="utf-8")
    first = load_workspace(tmp_path)
    catalogue = load_catalogue(first.catalogue_path, first.department_codes, first.cache_dir)
    assert [n.split("-")[0] for n in entries(first.cache_dir)] == ["catalogue", "xlq"]
    again = load_workspace(tmp_path)
    assert again == first
    assert load_catalogue(again.catalogue_path, again.department_codes, again.cache_dir) == catalogue
    assert catalogue == load_catalogue(first.catalogue_path, first.department_codes)  # no cache: the same


def test_a_broken_file_still_fails_in_one_line_with_a_cache(tmp_path):
    (tmp_path / "xlq.toml").write_text(SAMPLE_CONFIG + "\n[broken\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="xlq.toml"):
        load_workspace(tmp_path)
    (tmp_path / "catalogue.toml").write_text('version = "1"\n[[indicator]\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match="catalogue.toml"):
        load_catalogue(tmp_path / "catalogue.toml", (), tmp_path / CACHE_DIR)
    assert entries(tmp_path / CACHE_DIR) == []
