import numpy as np
import pytest

from harness.core.errors import InputSpecError, ModelError
from harness.inputs import (default_batch_size, example_inputs, parse_shape_overrides, random_inputs,
                            read_input_specs, resolve_shapes)


def test_specs_read_from_the_graph(models_dir):
    (spec,) = read_input_specs(str(models_dir / "seq.onnx"))
    assert spec.name == "x" and spec.dims == ("batch", "seq_len", 32) and spec.dtype == "float32"


def test_batch_axis_follows_batch_size(models_dir):
    specs = read_input_specs(str(models_dir / "mlp.onnx"))
    assert resolve_shapes(specs, 8, {}) == {"x": (8, 64)}


def test_dynamic_dimension_without_override_is_named(models_dir):
    specs = read_input_specs(str(models_dir / "seq.onnx"))
    with pytest.raises(InputSpecError, match=r"'seq_len' at axis 1.*--input-shape x=1xNx32"):
        resolve_shapes(specs, 1, {})


def test_override_fills_dynamic_dims_and_keeps_batch(models_dir):
    specs = read_input_specs(str(models_dir / "seq.onnx"))
    assert resolve_shapes(specs, 4, parse_shape_overrides(["x=1x12x32"])) == {"x": (4, 12, 32)}


@pytest.mark.parametrize("bad", ["x", "x=", "x=1xax3", "=1x2"])
def test_bad_shape_text(bad):
    with pytest.raises(InputSpecError, match="--input-shape"):
        parse_shape_overrides([bad])


def test_override_errors(models_dir):
    specs = read_input_specs(str(models_dir / "seq.onnx"))
    with pytest.raises(InputSpecError, match="unknown input"):
        resolve_shapes(specs, 1, {"nope": (1, 2)})
    with pytest.raises(InputSpecError, match="rank 3"):
        resolve_shapes(specs, 1, {"x": (1, 2)})
    with pytest.raises(InputSpecError, match="fixed at 32"):
        resolve_shapes(specs, 1, {"x": (1, 2, 5)})


def test_fixed_batch(models_dir):
    specs = read_input_specs(str(models_dir / "fixed3.onnx"))
    assert default_batch_size(specs) == 3
    with pytest.raises(InputSpecError, match="fixed batch of 3"):
        resolve_shapes(specs, 8, {})


def test_random_inputs_are_seeded_and_typed(models_dir):
    specs = read_input_specs(str(models_dir / "mlp.onnx"))
    a = random_inputs(specs, {"x": (2, 64)}, seed=3)
    b = random_inputs(specs, {"x": (2, 64)}, seed=3)
    assert a["x"].dtype == np.float32 and a["x"].shape == (2, 64)
    np.testing.assert_array_equal(a["x"], b["x"])


def test_example_inputs_repeat_to_fill_the_batch(models_dir):
    specs = read_input_specs(str(models_dir / "mlp.onnx"))
    data = {"x": np.arange(3 * 64, dtype=np.float64).reshape(3, 64)}
    feeds = example_inputs(data, specs, 5)
    assert feeds["x"].shape == (5, 64) and feeds["x"].dtype == np.float32
    np.testing.assert_array_equal(feeds["x"][3], data["x"][0])


def test_not_onnx(tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        read_input_specs(str(bad))
