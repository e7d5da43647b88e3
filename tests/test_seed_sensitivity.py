"""benchmarks/seed_sensitivity.py moves each initial weight by exactly one ulp, and only when asked."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_sensitivity.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("seed_sensitivity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _weights(model):
    return [np.asarray(v.numpy(), dtype=np.float32).copy() for v in model.weights]


def test_every_weight_moves_one_ulp_up_or_down():
    import keras

    study = _load_script()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(30), keras.layers.Dense(4)])
    before = _weights(model)
    study.nudge_weights(model, np.random.default_rng(7))
    ups = downs = 0
    for old, new in zip(before, _weights(model), strict=True):
        up = new == np.nextafter(old, np.float32(np.inf))
        down = new == np.nextafter(old, np.float32(-np.inf))
        assert np.all(up | down)
        ups, downs = ups + int(up.sum()), downs + int(down.sum())
    assert ups > 100 and downs > 100  # both signs drawn (754 weights)


def test_repeat_zero_builds_the_seeds_weights_and_others_nudge_them():
    import keras

    import workloads

    study = _load_script()

    def built(repeat):
        keras.utils.set_random_seed(5)
        return _weights(study.perturbed_workloads(repeat)("mnist_mlp1").build_model())

    plain = workloads.get("mnist_mlp1")
    keras.utils.set_random_seed(5)
    reference = _weights(plain.build_model())
    for a, b in zip(built(0), reference, strict=True):
        np.testing.assert_array_equal(a, b)
    nudged = built(1)
    assert any(not np.array_equal(a, b) for a, b in zip(nudged, reference, strict=True))
    for new, old in zip(nudged, reference, strict=True):
        assert np.all((new == np.nextafter(old, np.float32(np.inf))) |
                      (new == np.nextafter(old, np.float32(-np.inf))))


def test_numpy_order_is_the_spinnaker_engines_order():
    """Keras, with --numpy-order, sees each epoch's samples in the order Trainer.epoch draws them."""
    import keras

    study = _load_script()
    seen = []

    class Model:
        def fit(self, x, y, **kwargs):
            assert kwargs["shuffle"] is False
            seen.append((x.copy(), y.copy()))

    session = type("Session", (), {"_keras": keras, "batch_size": 4, "model": Model()})()
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10) + 100
    train_epoch = study.numpy_ordered_train_epoch(seed=5)
    for _ in range(2):
        train_epoch(session, x, y, on_samples=lambda n: None)
    engine_rng = np.random.default_rng(5)  # SpinnakerSession.rng; Trainer.epoch: rng.permutation(n)
    for xs, ys in seen:
        order = engine_rng.permutation(10)
        np.testing.assert_array_equal(xs[:, 0], order)
        np.testing.assert_array_equal(ys, order + 100)


def test_each_repeat_nudges_the_seeds_weights_once_and_the_registry_is_restored(monkeypatch, capsys):
    """main's repeats do not stack their nudges (each is one ulp from the seed's own weights)."""
    import keras

    import workloads

    study = _load_script()
    plain_get = workloads.get
    keras.utils.set_random_seed(2)
    reference = _weights(plain_get("mnist_mlp1").build_model())
    moves = []

    def fake_run_benchmark(config, out=None):
        keras.utils.set_random_seed(config.seeds[0])
        built = _weights(workloads.get(config.benchmark, config.workload_options).build_model())
        one_ulp = all(np.all((new == old) | (new == np.nextafter(old, np.float32(np.inf))) |
                             (new == np.nextafter(old, np.float32(-np.inf))))
                      for new, old in zip(built, reference, strict=True))
        moved = sum(int(np.sum(new != old)) for new, old in zip(built, reference, strict=True))
        moves.append((one_ulp, moved))
        summary = {"eval_curve": [], "converged": False, "epochs": 1, "final_accuracy": 0.0, "target": 0.9}
        return type("Outcome", (), {"summaries": [summary]})()

    monkeypatch.setattr(study, "run_benchmark", fake_run_benchmark)
    config = SCRIPT.parents[1] / "configs" / "mnist_mlp1" / "keras-cpu.yaml"
    assert study.main([str(config), "--seed", "2", "--repeats", "4"]) == 0
    assert moves[0] == (True, 0)
    assert all(one_ulp and moved > 1000 for one_ulp, moved in moves[1:])
    assert workloads.get is plain_get
    assert "0 of 4 converged" in capsys.readouterr().out


def test_numpy_order_patch_is_taken_back_after_each_repeat(monkeypatch):
    from harness.engines.keras_engine import KerasSession

    study = _load_script()
    plain = KerasSession.train_epoch
    patched = []

    def fake_run_benchmark(config, out=None):
        patched.append(KerasSession.train_epoch is not plain)
        summary = {"eval_curve": [], "converged": True, "epochs": 1, "final_accuracy": 1.0, "target": 0.9}
        return type("Outcome", (), {"summaries": [summary]})()

    monkeypatch.setattr(study, "run_benchmark", fake_run_benchmark)
    config = SCRIPT.parents[1] / "configs" / "mnist_mlp1" / "keras-cpu.yaml"
    assert study.main([str(config), "--seed", "1", "--repeats", "2", "--numpy-order"]) == 0
    assert patched == [True, True]
    assert KerasSession.train_epoch is plain


def test_bad_input_exits_2_naming_what_is_wrong(capsys):
    study = _load_script()
    configs = SCRIPT.parents[1] / "configs"
    engine_config = configs / "mnist_mlp1" / "spinnaker-emulated.yaml"
    assert study.main([str(engine_config), "--seed", "1", "--repeats", "1", "--numpy-order"]) == 2
    err = capsys.readouterr().err
    assert "--numpy-order" in err and "'spinnaker'" in err and "allowed: keras" in err
    assert study.main([str(configs / "no_such.yaml"), "--seed", "1"]) == 2
    assert "config file not found" in capsys.readouterr().err
    keras_config = configs / "mnist_mlp1" / "keras-cpu.yaml"
    assert study.main([str(keras_config), "--seed", "1", "--set", "recipe.batch_size=0"]) == 2
    assert "batch_size" in capsys.readouterr().err
