"""The student template offers every function of the spec as a documented stub, matching the reference."""

import inspect

import numpy as np
import pytest

from tests.helpers import ROOT, load_module

# The functions and parameters of docs/STUDENT_API.md (the course's spec), copied by hand.
SPEC = {
    "purification": {
        "reconstruction_loss": ["W", "X"],
        "regularization_loss": ["W"],
        "purification_loss": ["W", "X", "lam"],
        "optimal_purifier": ["X", "lam"],
        "purifier_lambda_range": ["singular_values", "k", "keep", "attenuate"],
    },
    "transformer": {
        "attention_by_content": [],
        "attention_by_position": [],
        "attention_unique": [],
    },
    "attention": {
        "argmax_attention": ["q", "K", "V"],
        "softmax_attention": ["Q", "K", "V"],
        "dot_product_mean": ["mu", "sigma", "d"],
        "dot_product_variance": ["d"],
        "attention_scale": ["d"],
    },
    "kernel_attention": {
        "similarity_attention": ["Q", "K", "V", "sim"],
        "softmax_similarity": ["q", "k"],
        "quadratic_kernel_similarity": ["q", "k"],
        "quadratic_feature_map": ["X"],
        "kernel_attention": ["Q", "K", "V", "feature_map"],
        "random_feature_map": ["X", "W"],
        "softmax_random_feature_map": ["X", "W"],
        "causal_kernel_attention": ["Q", "K", "V", "feature_map"],
    },
}
SPEC_FUNCTIONS = [(module, name, params) for module, functions in SPEC.items() for name, params in functions.items()]
DEFAULTS = {"keep": 0.8, "attenuate": 0.5}  # purifier_lambda_range's defaults in the spec


@pytest.mark.parametrize("folder", ["reference", "student_template"])
@pytest.mark.parametrize("module, name, params", SPEC_FUNCTIONS)
def test_spec_function_exists_with_spec_signature(folder, module, name, params):
    function = getattr(load_module(folder, module), name)
    signature = inspect.signature(function)
    assert list(signature.parameters) == params
    for param, default in DEFAULTS.items():
        if param in signature.parameters:
            assert signature.parameters[param].default == default


@pytest.mark.parametrize("folder", ["reference", "student_template"])
def test_pytorch_transformer_signature(folder):
    cls = load_module(folder, "transformer").PytorchTransformer
    init = inspect.signature(cls.__init__)
    assert list(init.parameters) == ["self", "input_dim", "qk_dim", "v_dim", "pos_dim", "max_seq_len"]
    assert init.parameters["pos_dim"].default is None and init.parameters["max_seq_len"].default == 10
    assert list(inspect.signature(cls.forward).parameters) == ["self", "seq"]


@pytest.mark.parametrize("module, name, params", SPEC_FUNCTIONS)
def test_stub_documents_itself_and_raises_not_implemented(module, name, params):
    function = getattr(load_module("student_template", module), name)
    assert function.__doc__ and len(function.__doc__.strip()) > 20
    with pytest.raises(NotImplementedError):
        function(*[np.ones((2, 2))] * len([p for p in params if p not in DEFAULTS]))


def test_pytorch_transformer_stub_raises_not_implemented():
    cls = load_module("student_template", "transformer").PytorchTransformer
    with pytest.raises(NotImplementedError):
        cls(3, 2, 3)


def test_template_numpy_transformer_is_the_reference_one():
    # Students get NumpyTransformer as given: it must be the very code the grader trusts.
    template = inspect.getsource(load_module("student_template", "transformer").NumpyTransformer)
    reference = inspect.getsource(load_module("reference", "transformer").NumpyTransformer)
    assert template == reference


@pytest.mark.parametrize(
    "folder, module", [("reference", m) for m in [*SPEC, "notebook_helpers"]] + [("student_template", m) for m in SPEC]
)
def test_every_file_opens_with_a_docstring(folder, module):
    assert load_module(folder, module).__doc__.strip()


def test_template_notebook_helpers_is_the_reference_file():
    # One copy of the notebook machinery: the template's file is a link, so they cannot drift apart.
    link = ROOT / "student_template" / "notebook_helpers.py"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "reference" / "notebook_helpers.py").resolve()
