"""Fixture submissions for end-to-end tests: real folders made from the reference or the template.

A fixture names its base folder, then the files it removes, the one-line bugs it patches in
(each patch must match the base exactly, so a refactor of the reference fails loudly here),
text it replaces in every file, the code it appends and the files it writes. `lost` lists the problems that must lose points;
every other problem must keep full marks. `categories` pins the failure category of some cases.
"""
import json
import shutil
from dataclasses import dataclass, field

from tests.helpers import ROOT


@dataclass
class Fixture:
    base: str = "reference"
    remove: tuple = ()
    patches: tuple = ()  # (file, old text, new text)
    replace_everywhere: tuple = ()  # (old text, new text) in every .py file
    append: dict = field(default_factory=dict)  # file -> code added at its end
    files: dict = field(default_factory=dict)  # file -> whole content
    nest: str = ""  # put the files one folder down, as a zipped upload does
    lost: frozenset = frozenset()
    categories: dict = field(default_factory=dict)  # case number -> expected category (or a tuple: any of them)


ALL_BUT_2 = frozenset("13456")

FIXTURES = {
    # honest bugs, one per problem: only their own problem may lose points
    "p1_shrink_not_squared": Fixture(patches=[("purification.py", "shrink = sigma_full**2 / (sigma_full**2 + lam)", "shrink = sigma_full / (sigma_full + lam)")], lost=frozenset("1"), categories={"1.7": "wrong value", "1.1": "passed"}),
    "p2_scaled_by_d": Fixture(patches=[("transformer.py", "torch.softmax(Q @ K.T / math.sqrt(self.qk_dim), dim=-1)", "torch.softmax(Q @ K.T / self.qk_dim, dim=-1)")], lost=frozenset("2"), categories={"2.1": "wrong value", "2.6": "passed", "2.11": "passed"}),
    "p2_soft_content": Fixture(patches=[("transformer.py", "    c = 10.0\n", "    c = 2.0\n")], lost=frozenset("2"), categories={"2.8": "wrong value", "2.12": "passed"}),
    "p3_ties_to_last": Fixture(patches=[("attention.py", "best = np.argmax(scores, axis=-1)", "best = scores.shape[-1] - 1 - np.argmax(scores[..., ::-1], axis=-1)")], lost=frozenset("3"), categories={"3.3": "wrong value", "3.1": "passed"}),
    "p4_unstable_softmax": Fixture(patches=[("attention.py", "shifted = scores - np.max(scores, axis=axis, keepdims=True)", "shifted = scores")], lost=frozenset("4"), categories={"4.3": "wrong value", "4.1": "passed"}),
    "p5_no_sqrt2": Fixture(patches=[("kernel_attention.py", "math.sqrt(2.0) * X, outer", "X, outer")], lost=frozenset("5"), categories={"5.5": "wrong value", "5.7": "passed"}),
    "p6_cosines_first": Fixture(patches=[("kernel_attention.py", "[np.sin(projections), np.cos(projections)]", "[np.cos(projections), np.sin(projections)]")], lost=frozenset("6"), categories={"6.1": "wrong value", "6.5": "passed"}),
    "p6_quadratic_causal": Fixture(append={"kernel_attention.py": "\ncausal_kernel_attention = causal_kernel_attention_naive\n"}, lost=frozenset("6"), categories={"6.5": "passed", "6.8": "memory limit"}),
    # broken submissions: each costs exactly the cases that touch the broken part
    "syntax_error": Fixture(files={"attention.py": "def argmax_attention(q, K, V)\n    return q\n"}, lost=frozenset("34"), categories={"3.1": "exception", "4.9": "exception"}),
    "missing_kernel_file": Fixture(remove=("kernel_attention.py",), lost=frozenset("56"), categories={"5.1": "missing file", "6.9": "missing file"}),
    "hangs": Fixture(append={"attention.py": "\ndef attention_scale(d):\n    while True:\n        pass\n"}, lost=frozenset("4"), categories={"4.8": "timeout", "4.9": "timeout", "4.7": "passed"}),
    "exits_the_process": Fixture(append={"purification.py": "\nimport os\n\n\ndef regularization_loss(W):\n    os._exit(3)\n"}, lost=frozenset("1"), categories={"1.3": "crash", "1.5": "passed"}),
    # as another user the signal is refused (an exception); as the same user the worker dies (a crash)
    "kills_the_worker": Fixture(append={"attention.py": "\nimport os, signal\n\n\ndef dot_product_variance(d):\n    os.kill(os.getppid(), signal.SIGKILL)\n"}, lost=frozenset("4"), categories={"4.6": ("exception", "crash"), "4.7": ("exception", "crash"), "4.8": "passed"}),
    "leaves_a_process_behind": Fixture(append={"attention.py": "\nimport os\nimport time\n_real_scale = attention_scale\n\n\ndef attention_scale(d):\n    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)\n    return _real_scale(d)\n"}, categories={"4.8": "passed", "4.9": "passed"}),
    "float32_everywhere": Fixture(replace_everywhere=("np.float64", "np.float32")),  # spec: a correct float32 implementation passes
    "rewrites_its_own_file": Fixture(append={"attention.py": "\n_real_mean = dot_product_mean\n\n\ndef dot_product_mean(mu, sigma, d):\n    try:\n        open(__file__, 'w').write('raise SystemExit')\n    except OSError:\n        pass\n    return _real_mean(mu, sigma, d)\n"}, categories={"4.4": "passed", "4.5": "passed", "4.6": "passed"}),  # no case changes another's
    "returns_wrong_types": Fixture(append={"attention.py": "\ndef dot_product_mean(mu, sigma, d):\n    return None\n\n\ndef attention_scale(d):\n    return 'sqrt(d)'\n"}, lost=frozenset("4"), categories={"4.4": "wrong value", "4.8": "unsupported return type"}),
    "column_instead_of_row": Fixture(append={"attention.py": "\n_rowwise = argmax_attention\n\n\ndef argmax_attention(q, K, V):\n    return _rowwise(q, K, V).reshape(-1, 1)\n"}, lost=frozenset("3"), categories={"3.1": "wrong shape"}),
    "float32_torch_outputs": Fixture(append={"attention.py": "\nimport torch\n_numpy_softmax = softmax_attention\n\n\ndef softmax_attention(Q, K, V):\n    return torch.tensor(_numpy_softmax(Q, K, V), dtype=torch.float32, requires_grad=True).T.contiguous().T\n"}, categories={"4.1": "passed", "4.3": "passed"}),
    "complex_output": Fixture(append={"kernel_attention.py": "\n_real_map = random_feature_map\n\n\ndef random_feature_map(X, W):\n    return _real_map(X, W) + 0j\n"}, lost=frozenset("6"), categories={"6.1": "unsupported return type", "6.3": "unsupported return type", "6.5": "passed"}),
    # the log
    "log_only": Fixture(remove=("purification.py", "transformer.py", "attention.py", "kernel_attention.py"), lost=ALL_BUT_2, categories={"2.1": "passed", "2.8": "passed", "1.1": "missing file"}),
    "log_not_json": Fixture(files={"submission_log.json": "{not json"}, lost=frozenset("2"), categories={"2.10": "invalid submission_log.json", "2.1": "passed", "2.8": "passed"}),
    "no_transformer_no_log": Fixture(remove=("transformer.py", "submission_log.json"), lost=frozenset("2"), categories={"2.1": "missing file", "2.8": "missing file", "2.10": "invalid submission_log.json"}),
    # whole submissions
    "nested_reference": Fixture(nest="hw9"),
    "template": Fixture(base="student_template", lost=frozenset("123456")),
}


def logged_value_changed():
    """The reference log with torch_transformer_value altered: only 2.11 may fail."""
    log = json.loads((ROOT / "reference" / "submission_log.json").read_text())
    log["torch_transformer_value"][0] += 0.01
    return json.dumps(log)


FIXTURES["log_value_forged"] = Fixture(files={"submission_log.json": logged_value_changed()}, lost=frozenset("2"), categories={"2.11": "wrong value", "2.10": "passed", "2.12": "passed"})


def make_submission(name, parent):
    """Materialise fixture `name` as a real folder under `parent`; return the folder to grade."""
    fixture = FIXTURES[name]
    top = parent / name
    folder = top / fixture.nest if fixture.nest else top
    shutil.copytree(ROOT / fixture.base, folder, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb", "README.md", "notebook_helpers.py", "__init__.py"))
    for file in fixture.remove:
        (folder / file).unlink()
    if fixture.replace_everywhere:
        old, new = fixture.replace_everywhere
        for path in folder.glob("*.py"):
            path.write_text(path.read_text().replace(old, new))
    for file, old, new in fixture.patches:
        text = (folder / file).read_text()
        assert text.count(old) == 1, f"fixture {name}: {old!r} is not in {file} exactly once"
        (folder / file).write_text(text.replace(old, new))
    for file, code in fixture.append.items():
        (folder / file).write_text((folder / file).read_text() + code)
    for file, content in fixture.files.items():
        (folder / file).write_text(content)
    return top
