"""The project's documents: their relative links lead to files of the repository, and docs/STUDENT_API.md names
every signature of the course's spec, each the reference's own."""

import ast
import inspect
import re

import pytest

from tests.helpers import ROOT, load_module

# The course's text lies outside the repository, beside the main checkout (../shared/spec) on the machine it came with.
SPEC = (
    next(
        (
            path
            for path in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
            if (path / "spec" / "STUDENT_API.md").exists()
        ),
        ROOT.parent / "shared",
    )
    / "spec"
    / "STUDENT_API.md"
)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target "title"), not images
MARKDOWN_PATH = re.compile(r"`([^`\s]+\.md)`")  # a document named in code spans, as the README used to name the spec
CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
SIGNATURE = re.compile(r"^\s*(?:def\s+)?(\w+)\(([^()]*)\)\s*(?:->|:)", re.M)
CLASS = re.compile(r"^class\s+(\w+)\(", re.M)
SECTION_FILE = re.compile(r"^## .*?`(\w+)\.py`", re.M)


def relative_targets(text: str) -> list[str]:
    """Every link target and code-span .md path of a document that is not a web address or an anchor."""
    targets = LINK.findall(text) + MARKDOWN_PATH.findall(text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_relative_links_point_at_files_of_the_repository(document):
    targets = relative_targets(document.read_text())
    for target in targets:
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(ROOT.resolve()), f"{document.name} links outside the repository: {target}"
        assert resolved.exists(), f"{document.name} links to a missing file: {target}"


def test_the_readme_links_the_projects_own_interface():
    assert "docs/STUDENT_API.md" in relative_targets((ROOT / "README.md").read_text())


def test_link_targets_are_found():
    text = 'see [the spec](../x/spec.md#top "t"), ![img](a.png), [web](https://a.b), [here](#anchor) and `b/c.md`'
    assert relative_targets(text) == ["../x/spec.md", "b/c.md"]


def spec_signatures(text: str) -> list[tuple[str, str, str, str]]:
    """(module, owner class or "", name, parameter text) of every signature in the spec's python blocks, the module
    being the file named in the heading of the section the block lies in."""
    found = []
    sections = [(match.start(), match.group(1)) for match in SECTION_FILE.finditer(text)]
    for block in CODE_BLOCK.finditer(text):
        module = [name for start, name in sections if start < block.start()][-1]
        owner = ""
        for line in block.group(1).splitlines():
            if declared := CLASS.match(line):
                owner = declared.group(1)
            elif signature := SIGNATURE.match(line):
                found.append((module, owner if line.startswith((" ", "\t")) else "", *signature.groups()))
    return found


def parameters(text: str) -> list[tuple[str, object]]:
    """[(name, default or inspect.Parameter.empty)] of a parameter list written as Python."""
    arguments = ast.parse(f"def f({text}): pass").body[0].args
    names = [a.arg for a in arguments.args]
    defaults = [inspect.Parameter.empty] * (len(names) - len(arguments.defaults)) + [
        ast.literal_eval(d) for d in arguments.defaults
    ]
    return list(zip(names, defaults, strict=True))


def test_spec_signatures_are_read():
    text = "## 9. P — `m.py`\n```python\nf(a, b=2) -> float  # x\nclass C(Base):\n    def g(self, c): ...\n```\n"
    assert spec_signatures(text) == [("m", "", "f", "a, b=2"), ("m", "C", "g", "self, c")]
    assert parameters("a, b=2, c=None") == [("a", inspect.Parameter.empty), ("b", 2), ("c", None)]


def assert_the_reference_has(signatures):
    for module, owner, name, text in signatures:
        target = getattr(load_module("reference", module), owner) if owner else load_module("reference", module)
        actual = inspect.signature(getattr(target, name))
        assert [(p.name, p.default) for p in actual.parameters.values()] == parameters(text), (module, owner, name)


def test_every_signature_of_student_api_is_the_references():
    signatures = spec_signatures((ROOT / "docs" / "STUDENT_API.md").read_text())
    assert len(signatures) == 23  # 5 + 2 + 3 + 5 + 8: every function and PytorchTransformer's two methods
    assert_the_reference_has(signatures)


@pytest.mark.skipif(not SPEC.exists(), reason="the course's spec is not on this machine")
def test_student_api_names_every_signature_of_the_spec():
    ours = (ROOT / "docs" / "STUDENT_API.md").read_text()
    signatures = spec_signatures(SPEC.read_text())
    assert len(signatures) >= 20  # the regex found the spec's functions, not nothing
    for _module, _owner, name, text in signatures:
        assert re.search(rf"\b{name}\({re.escape(text)}\)", ours), f"docs/STUDENT_API.md lacks {name}({text})"
    assert_the_reference_has(signatures)
