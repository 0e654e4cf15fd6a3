"""autograder/export.py: safe output names, the metadata as YAML, hashes that follow no link, zips within limits."""

import os
import stat
import zipfile

import pytest

from autograder.export import (
    CLASS_FILES,
    ExportError,
    Limits,
    SubmissionTooLarge,
    UnsafeName,
    check_apart,
    content_hash,
    export_root,
    list_submissions,
    output_folder,
    output_name,
    printable,
    read_metadata,
    unpack_zip,
)

HOSTILE_NAMES = [
    "../escaped",
    "../../../../etc/cron.d/x",
    "/etc/passwd",
    "/",
    ".",
    "..",
    "",
    "a/b",
    "a\\b",
    "x\0y",
    "grades.csv",
    "GRADES.CSV",
    "report.html",
    "regrade-notes.txt",
    ".regrade-state.json",
    "_export",
    ".unpacked-x",
    b"caf\xe9-\xff",
    "submission_1-0123456789ab",
    "a..b",
    "-rf",
    "=HYPERLINK(1)",
    "é" * 300,
    "con\nsole\x1b[31m",
]


# ---- output names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["submission_101", "full_marks", "attention-scale.v2", "A1"])
def test_plainly_safe_names_are_kept(name):
    assert output_name(name) == name


def test_every_hostile_name_becomes_a_distinct_folder_right_under_out(tmp_path):
    names = [output_name(name) for name in HOSTILE_NAMES]
    assert len(set(names)) == len(names)  # two export names never share an output folder
    for made in names:
        folder = output_folder(tmp_path, made)
        assert folder.parent == tmp_path and folder.name == made
        assert made.lower() not in CLASS_FILES and not made.startswith(".") and len(made) <= 80
    assert output_name("grades.csv") != "grades.csv" and output_name("../escaped").startswith("escaped-")


@pytest.mark.parametrize(
    "name", ["../x", "/abs", "a/b", "x\0y", ".", "..", "", "grades.csv", "report.html", ".regrade-state.json"]
)
def test_output_folder_refuses_unsafe_names(tmp_path, name):
    with pytest.raises(UnsafeName):
        output_folder(tmp_path, name)


def test_output_folder_refuses_a_link_planted_in_out(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out_link")
    with pytest.raises(UnsafeName):
        output_folder(tmp_path, "out_link")


@pytest.mark.parametrize(
    "text, shown",
    [
        ("Ada\x1b[31m Lovelace\x1b[0m\n", "Ada Lovelace"),  # terminal escape sequences and the newline go
        ("two\nlines\r\x00", "two lines"),  # a control character becomes a space (trailing ones go)
        ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override is invisible formatting: dropped
        (b"caf\xe9", "caf\\xe9"),  # undecodable bytes are shown escaped
        ("caf\udce9", "caf\\xe9"),  # the same name as os.listdir gives it
        ("می\u200cخواهم", "می\u200cخواهم"),  # a zero-width non-joiner is part of the spelling
    ],
)
def test_printable(text, shown):
    assert printable(text) == shown


# ---- metadata ------------------------------------------------------------------------------------


def metadata(tmp_path, text):
    (tmp_path / "submission_metadata.yml").write_text(text)
    notes = []
    return read_metadata(tmp_path, notes), notes


def test_gradescope_metadata_with_ruby_symbol_keys(tmp_path):
    people, notes = metadata(
        tmp_path,
        """submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '3031'
    :email: ada@example.edu
  :created_at: 2026-10-28 22:01:00.000000000 -07:00
  :score: 0.0
""",
    )
    ada = {"name": "Ada Lovelace", "email": "ada@example.edu", "sid": "3031"}
    assert people == {"submission_101": [ada]} and notes == []


def test_yaml_that_a_line_reader_misreads(tmp_path):
    people, notes = metadata(
        tmp_path,
        """
a: &team
  :submitters:
  - {":name": "O'Brien, Conan", ":sid": 0123}
  - :name: 'Siobhán O''Brien'
    :email: >-
      s@example.edu
"b": *team
'c':
  <<: *team
  :score: 3
d: {":submitters": [{":name": No}]}
e:
  :submitters:
  - :name: |-
      two
      lines
""",
    )
    siobhan = {"name": "Siobhán O'Brien", "email": "s@example.edu", "sid": ""}
    team = [{"name": "O'Brien, Conan", "email": "", "sid": "0123"}, siobhan]  # 0123 is text, not the octal 83
    assert people == {
        "a": team,
        "b": team,
        "c": team,
        "d": [{"name": "No", "email": "", "sid": ""}],
        "e": [{"name": "two lines", "email": "", "sid": ""}],
    }
    assert notes == []


@pytest.mark.parametrize(
    "text",
    [
        "a:\n  :submitters: [unclosed\n",  # not YAML
        "- just\n- a list\n",  # not a mapping
        "a: !!python/object/apply:os.system ['true']\n",  # a tag the safe loader refuses
        "\xff\xfe",  # not UTF-8 once written as Latin-1 below
        "a: " + "[" * 5000 + "]" * 5000,  # nested deeper than the parser's recursion
    ],
)
def test_unusable_metadata_is_noted_and_gives_no_names(tmp_path, text):
    (tmp_path / "submission_metadata.yml").write_bytes(text.encode("latin-1") if text == "\xff\xfe" else text.encode())
    notes = []
    assert read_metadata(tmp_path, notes) == {} and len(notes) == 1


def test_odd_fields_are_tolerated(tmp_path):
    people, notes = metadata(
        tmp_path,
        """a:
  :submitters:
    :name: Solo
b:
  :submitters:
  - :name: [not, text]
    :email: {no: thanks}
  - just a string
c: 42
""",
    )
    assert people["a"] == [{"name": "Solo", "email": "", "sid": ""}]
    assert people["b"] == [{"name": "", "email": "", "sid": ""}]
    assert people["c"] == [] and len(notes) == 1


def test_metadata_that_is_a_link_or_too_large_is_not_read(tmp_path):
    (tmp_path / "real.yml").write_text("a:\n  :submitters:\n  - :name: Ada\n")
    os.symlink(tmp_path / "real.yml", tmp_path / "submission_metadata.yml")
    notes = []
    assert read_metadata(tmp_path, notes) == {} and "could not be read" in notes[0]
    os.unlink(tmp_path / "submission_metadata.yml")
    (tmp_path / "submission_metadata.yml").write_text("a: " + "x" * 2000)
    assert read_metadata(tmp_path, notes, Limits(metadata_bytes=1000)) == {} and len(notes) == 2


# ---- the submissions of an export ----------------------------------------------------------------


def test_metadata_keys_are_matched_against_the_listing_never_joined_to_a_path(tmp_path):
    for name in ("submission_1", "grades.csv", ".hidden", "__MACOSX"):
        (tmp_path / name).mkdir()
    (tmp_path / "stray.txt").write_text("")
    os.symlink("/", tmp_path / "linked")
    people = {"submission_1": [{"name": "Ada"}], "../submission_1": [{"name": "Mallory"}], "/tmp": []}
    notes = []
    entries = {entry.name: entry for entry in list_submissions(tmp_path, people, notes)}
    assert sorted(entries) == ["../submission_1", "/tmp", "grades.csv", "linked", "submission_1"]
    assert entries["submission_1"].path == tmp_path / "submission_1"
    assert entries["submission_1"].people == [{"name": "Ada"}]
    assert entries["../submission_1"].path is None and "no such folder" in entries["../submission_1"].problem
    assert entries["linked"].path is None and "link" in entries["linked"].problem
    assert entries["grades.csv"].output != "grades.csv" and len(notes) == 2


# ---- content hashes ------------------------------------------------------------------------------


def test_content_hash_sees_every_change_and_follows_no_link(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "attention.py").write_text("x = 1\n")
    first = content_hash(folder)
    assert content_hash(folder) == first
    (folder / "attention.py").write_text("x = 2\n")
    second = content_hash(folder)
    (folder / "sub").mkdir()
    third = content_hash(folder)
    os.symlink("/etc/hostname", folder / "sub" / "link")
    fourth = content_hash(folder)
    os.unlink(folder / "sub" / "link")
    os.symlink("/etc/hosts", folder / "sub" / "link")
    fifth = content_hash(folder)
    os.mkfifo(folder / "pipe")  # never opened for reading: no hang
    sixth = content_hash(folder)
    assert len({first, second, third, fourth, fifth, sixth}) == 6
    os.unlink(folder / "pipe")
    moved = tmp_path / "moved"
    os.rename(folder, moved)
    assert content_hash(moved) == fifth  # where a submission lies is not part of what it is


def test_content_hash_of_a_huge_tree_is_refused(tmp_path):
    for index in range(20):
        (tmp_path / str(index)).write_text("")
    with pytest.raises(SubmissionTooLarge):
        content_hash(tmp_path, max_entries=10)


# ---- zips ----------------------------------------------------------------------------------------


def add(bundle, name, data=b"", kind=stat.S_IFREG, compress=zipfile.ZIP_DEFLATED):
    info = zipfile.ZipInfo(name)
    info.external_attr = (kind | 0o644) << 16
    info.compress_type = compress
    bundle.writestr(info, data)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_unpacking_refuses_escapes_links_special_files_and_bombs(tmp_path):
    archive, target = tmp_path / "export.zip", tmp_path / "out" / "unpacked"
    target.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        add(bundle, "s1/attention.py", b"x = 1\n")
        add(bundle, "s1/deep/", kind=stat.S_IFDIR)
        add(bundle, "s1/../../../escaped.txt", b"out")
        add(bundle, "../escaped.txt", b"out")
        add(bundle, "/abs.txt", b"out")
        add(bundle, "C:/windows.txt", b"out")
        add(bundle, "s1\\..\\..\\back.txt", b"out")
        add(bundle, "s2/attention.py", b"/etc/passwd", kind=stat.S_IFLNK)
        add(bundle, "s2/pipe", kind=stat.S_IFIFO)
        add(bundle, "s2/bomb.bin", bytes(8 << 20))  # 8 MiB of zeros: about 1000:1
        add(bundle, "s1/attention.py", b"again")  # a second member of the same name
    notes = []
    unpack_zip(archive, target, notes, Limits(ratio_from=1 << 20))
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == [
        "export.zip",
        "out",
        "out/unpacked",
        "out/unpacked/s1",
        "out/unpacked/s1/attention.py",
        "out/unpacked/s1/deep",
    ]
    assert (target / "s1" / "attention.py").read_text() == "x = 1\n"
    assert len(notes) == 9
    for name, reason in [
        ("escaped.txt", "'..'"),
        ("/abs.txt", "absolute"),
        ("C:/windows.txt", "absolute"),
        ("back.txt", "backslash"),
        ("s2/attention.py", "symbolic link"),
        ("s2/pipe", "special file"),
        ("s2/bomb.bin", "zip bomb"),
        ("s1/attention.py", "exists"),
    ]:
        assert any(name in note and reason in note for note in notes), (name, notes)


def test_unpacking_stops_at_the_total_and_member_budgets(tmp_path):
    archive, target = tmp_path / "export.zip", tmp_path / "unpacked"
    target.mkdir()
    with zipfile.ZipFile(archive, "w") as bundle:
        for index in range(6):
            add(bundle, f"s{index}/noise.bin", os.urandom(300_000), compress=zipfile.ZIP_STORED)
        for index in range(5):
            add(bundle, f"many/{index}.txt", b"x")
    notes = []
    limits = Limits(total_bytes=1_000_000, members=9)
    unpack_zip(archive, target, notes, limits)
    used = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    assert used <= limits.total_bytes and len(list(target.glob("s*/noise.bin"))) == 3
    assert sum("total uncompressed size" in note for note in notes) == 3 and "only the first 9" in notes[0]
    assert len(list(target.glob("many/*"))) == 3


def test_a_lying_header_cannot_write_more_than_it_declares(tmp_path):
    archive, target = tmp_path / "export.zip", tmp_path / "unpacked"
    target.mkdir()
    with zipfile.ZipFile(archive, "w") as bundle:
        add(bundle, "s/file.bin", bytes(100_000))
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as bundle:
        info = bundle.getinfo("s/file.bin")
    central = raw.rindex(b"PK\x01\x02")  # the central directory's entry: its uncompressed size is at +24
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    notes = []
    unpack_zip(archive, target, notes)
    assert not (target / "s" / "file.bin").exists() or (target / "s" / "file.bin").stat().st_size <= 1000
    assert info.file_size == 100_000 and len(notes) == 1


def test_a_file_that_is_not_a_zip_is_an_export_error(tmp_path):
    (tmp_path / "export.zip").write_text("not a zip")
    with pytest.raises(ExportError):
        unpack_zip(tmp_path / "export.zip", tmp_path, [])


def test_the_export_folder_inside_a_zip_is_found(tmp_path):
    (tmp_path / "assignment_1_export").mkdir()
    (tmp_path / "assignment_1_export" / "submission_metadata.yml").write_text("{}")
    (tmp_path / "__MACOSX").mkdir()
    assert export_root(tmp_path) == tmp_path / "assignment_1_export"
    (tmp_path / "another").mkdir()
    assert export_root(tmp_path) == tmp_path


@pytest.mark.parametrize("out", ["export", "export/out", "."])
def test_out_must_not_overlap_the_export(tmp_path, out):
    (tmp_path / "export").mkdir()
    with pytest.raises(ExportError):
        check_apart(tmp_path / "export", tmp_path / out)
    check_apart(tmp_path / "export", tmp_path / "elsewhere")  # apart: fine
    check_apart(tmp_path / "export.zip", tmp_path)  # a zip beside --out: fine


def test_submission_times_and_lateness_are_read_as_text_and_given_to_the_entries(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text(
        "s1:\n  :submitters: []\n  :created_at: 2026-10-28 22:01:00.000000000 -07:00\n  :lateness: 3600\n"
        's2:\n  :submitters: []\n  :created_at: {a: b}\n  :late: "yes\\u202e\\x1b[31m"\n'
        "s3:\n  :submitters: []\n"
    )
    (tmp_path / "s1").mkdir()
    times, notes = {}, []
    read_metadata(tmp_path, notes, times=times)
    assert times == {
        "s1": {"submitted_at": "2026-10-28 22:01:00.000000000 -07:00", "lateness": "3600"},
        "s2": {"submitted_at": "", "lateness": "yes"},  # a mapping is no time; control characters dropped
        "s3": {"submitted_at": "", "lateness": ""},
    }
    entries = {entry.name: entry for entry in list_submissions(tmp_path, {}, notes, times)}
    assert entries["s1"].submitted_at == "2026-10-28 22:01:00.000000000 -07:00" and entries["s1"].lateness == "3600"
