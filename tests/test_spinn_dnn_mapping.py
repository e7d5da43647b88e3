"""spinn_dnn through the real SpiNNaker toolchain (spinnakergraphfrontend 1!7.4.1, virtual boards).

What is checked comes from outside spinn_dnn: weights against Keras's own,
routes against the toolchain's own placements and per-chip routing tables,
core images against the toolchain's data-specification database.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("spinnaker_graph_front_end")

import spinn_dnn  # noqa: E402
from spinn_dnn import keywalk, regions, route_pruning  # noqa: E402
from spinn_dnn.errors import DoesNotFitError, KeyWalkError, MachineUnavailableError  # noqa: E402
from spinn_dnn.plan import PARTITIONS  # noqa: E402
from spinn_dnn.tiling import receptive_mask  # noqa: E402

MNIST = ("mnist_mlp1", "mnist_mlp2", "mnist_lenet1", "mnist_lenet4", "mnist_lenet5")


def _build(name: str):
    import workloads

    return workloads.get(name).build_model()


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    out = {}
    for name in MNIST:
        model = _build(name)
        out[name] = (model, spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1),
                                                  run_dir=tmp_path_factory.mktemp(name)))
    return out


@pytest.mark.parametrize("name", MNIST)
def test_mnist_fits_one_board_and_routes_exactly(mapped, name):
    _, sm = mapped[name]
    m = sm.mapping
    assert m.boards == 1 and m.cores <= 759 and m.chips <= 48
    assert m.cores == sum(r.cores for r in m.layers) == sm.plan.n_cores
    assert 0 < m.routing_entries_max_per_chip <= 1023
    assert m.routing_entries_max_per_chip == max(len(t) for t in sm.toolchain.tables.values())
    assert m.dtcm_max_per_core <= m.dtcm_budget and m.sdram_max_per_chip <= m.sdram_budget_per_chip
    # every key of every routed partition was walked, and reached exactly its cores; a conv
    # layer's gradient ring has a key per kernel weight, sent once a batch (its packets per
    # sample are a share of that), so keys >= packets
    keys = [(sm.plan.tile(r.src).keys[r.partition][2], len(r.dst)) for r in sm.plan.routes]
    assert m.key_walk["keys"] == sum(n for n, _ in keys) >= sum(m.packets_per_sample.values())
    assert m.key_walk["deliveries"] == sum(n * d for n, d in keys) >= sum(m.deliveries_per_sample.values())
    assert set(m.packets_per_sample) <= set(PARTITIONS)
    # every error partition goes to one tile, and its keys stand for that tile's atoms; a conv or
    # pool tile sends there only the inputs its receptive fields read (fewer than its span
    # wherever windows leave gaps), all its partitions together exactly those it covers
    sent: dict[tuple[str, int], int] = {}
    for r in sm.plan.routes:
        if r.pid != "bwd":
            continue
        (dst,) = r.dst
        owner, sender = sm.plan.tile(dst), sm.plan.tile(r.src)
        assert r.partition == f"bwd.{owner.index}"
        assert owner.lo <= r.span[0] < r.span[1] <= owner.hi
        assert sender.in_lo <= r.span[0] and r.span[1] <= sender.in_hi
        assert 0 < r.packets_per_sample <= r.span[1] - r.span[0]
        sent[r.src] = sent.get(r.src, 0) + r.packets_per_sample
    for src, n in sent.items():
        sender = sm.plan.tile(src)
        if sender.role in ("conv", "pool"):
            assert n == sender.n_in_needed <= sender.in_hi - sender.in_lo
        # every tile of the sending layer holds a key in each of its layer's error partitions
        # (the toolchain routes a partition through its senders' chips only)
        layer = sm.plan.vertex(src[0])
        parts = {r.partition for r in sm.plan.routes if r.pid == "bwd" and r.src[0] == src[0]}
        assert all(parts <= set(t.keys) for t in layer.tiles)
    # distinct cores, all from the toolchain's placements
    assert len(set(sm.toolchain.placements.values())) == m.cores


@pytest.mark.parametrize("name", MNIST)
def test_get_weights_equal_keras_exactly(mapped, name):
    model, sm = mapped[name]
    got, want = sm.get_weights(), model.get_weights()
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32 and g.shape == w.shape and np.array_equal(g, w)


def test_core_images_carry_keys_and_parameters(mapped):
    _, sm = mapped["mnist_lenet5"]
    n_unused = 0
    for v in sm.plan.vertices:
        for t in v.tiles:
            p = regions.decode_params(sm.region(v.label, t.index, "PARAMS"))
            assert p["magic"] == regions.MAGIC and p["atom_lo"] == t.lo and p["atom_hi"] == t.hi
            out, inc = regions.decode_keys(sm.region(v.label, t.index, "KEYS"))
            kind = {r.partition: r.pid for r in sm.plan.routes if r.src == (v.label, t.index)}
            # keys it holds but never sends on: error partitions of tiles its windows miss, and
            # forward run partitions beyond its own runs (tiling.fwd_runs)
            unused = set(t.keys) - set(kind)
            assert all(pid.startswith(("bwd.", "fwd.")) for pid in unused)
            n_unused += len(unused)
            tool = {pid: sm.toolchain.keys[(v.label, t.index, pid)] for pid in kind}
            assert {(PARTITIONS[e["partition"]], e["key"], e["mask"]) for e in out} == {
                (kind[pid], k, m) for pid, (k, m) in tool.items()}
            senders = [r for r in sm.plan.routes if (v.label, t.index) in r.dst]
            assert sorted(e["key"] for e in inc) == sorted(
                sm.toolchain.keys[(r.src[0], r.src[1], r.partition)][0] for r in senders)
    assert n_unused > 0  # LeNet-5's conv and pool layers have them
    # fwd keys are contiguous per layer: key - base = atom index
    for v in sm.plan.vertices:
        if "fwd" in v.app_keys:
            base = v.app_keys["fwd"][0]
            for t in v.tiles:
                assert sm.toolchain.keys[(v.label, t.index, "fwd")][0] - base == t.lo


def _corrupt_and_walk(sm, change):
    result = copy.deepcopy(sm.toolchain)
    change(result)
    keywalk.walk(sm.plan, result)


def test_key_walk_catches_corrupted_tables(mapped):
    _, sm = mapped["mnist_mlp2"]  # spans several chips
    keywalk.walk(sm.plan, sm.toolchain)  # the real tables pass
    chip, entries = next((c, e) for c, e in sm.toolchain.tables.items() if any(x[2] for x in e))
    i = next(i for i, e in enumerate(entries) if e[2])

    def drop_core(r):
        k, m, cores, links, d = r.tables[chip][i]
        r.tables[chip][i] = (k, m, cores[1:], links, d)

    def extra_core(r):
        k, m, cores, links, d = r.tables[chip][i]
        spare = next(p for p in range(1, 18) if p not in cores)
        r.tables[chip][i] = (k, m, (*cores, spare), links, d)

    def wrong_mask(r):
        k, m, cores, links, d = r.tables[chip][i]
        r.tables[chip][i] = (k ^ 0x80000000, m | 0x80000000, cores, links, d)

    linked = [(c, j) for c, e in sm.toolchain.tables.items() for j, x in enumerate(e) if x[3]]
    lchip, j = linked[0]

    def cut_link(r):
        k, m, cores, links, d = r.tables[lchip][j]
        r.tables[lchip][j] = (k, m, cores, (), d)

    for change, words in ((drop_core, "miss"), (extra_core, "does not need"), (wrong_mask, "miss"),
                          (cut_link, "miss")):
        with pytest.raises(KeyWalkError, match=words):
            _corrupt_and_walk(sm, change)


@pytest.mark.parametrize("name", MNIST)
def test_input_is_split_only_where_the_first_layer_reads_part_of_it(mapped, name):
    # one input tile sends every pixel to every first-layer tile that reads any of them; a
    # convolution's tiles each read a band of rows, so the image is split into bands that go
    # only to the tiles reading them (tiling.input_atoms_per_tile), and each pixel still
    # reaches every tile whose receptive fields cover it
    _, sm = mapped[name]
    plan = sm.plan
    inputs, first = plan.vertices[0], plan.vertices[1]
    layer = plan.layers[1]
    routes = [r for r in plan.routes if r.pid == "fwd" and r.src[0] == inputs.label]
    delivered = sum(r.packets_per_sample * len(r.dst) for r in routes)
    if layer.kind == "dense":
        assert len(inputs.tiles) == 1 and delivered == layer.n_inputs * len(first.tiles)
        return
    assert len(inputs.tiles) > 1
    assert delivered <= layer.n_inputs * len(first.tiles) / 2  # what one input tile delivered
    for t in first.tiles:
        need = receptive_mask(layer, t.lo, t.hi)
        got = np.zeros(layer.n_inputs, dtype=bool)
        for r in routes:
            if (first.label, t.index) in r.dst:
                lo, hi = r.span or (plan.tile(r.src).lo, plan.tile(r.src).hi)
                got[lo:hi] = True
        assert got[need].all()


@pytest.mark.parametrize("name", ["mnist_lenet1", "mnist_lenet5"])
def test_forward_runs_deliver_what_each_tile_reads_and_little_else(mapped, name):
    # a source whose atoms have different readers sends them in one partition per run of atoms
    # with the same readers (tiling.fwd_runs): every atom a tile's receptive fields read reaches
    # it, and far fewer others than when each source tile went whole to every tile reading any
    _, sm = mapped[name]
    plan = sm.plan
    split = [r for r in plan.routes if r.partition.startswith("fwd.")]
    assert split, "no forward runs: the test would prove nothing"
    for src_v, dst_v in zip(plan.vertices, plan.vertices[1:], strict=False):
        routes = [r for r in plan.routes if r.pid == "fwd" and r.src[0] == src_v.label]
        if not any(r.span for r in routes):
            continue
        layer = plan.layers[dst_v.layer]
        masks = {t.index: receptive_mask(layer, t.lo, t.hi) for t in dst_v.tiles}
        needed = sum(int(m.sum()) for m in masks.values())
        whole = sum(s.n_atoms * sum(bool(m[s.lo:s.hi].any()) for m in masks.values()) for s in src_v.tiles)
        delivered = sum(r.packets_per_sample * len(r.dst) for r in routes)
        assert needed <= delivered <= needed + (whole - needed) / 2, (src_v.label, needed, delivered, whole)
        for t in dst_v.tiles:
            got = np.zeros(layer.n_inputs, dtype=bool)
            for r in routes:
                if (dst_v.label, t.index) in r.dst:
                    got[r.span[0]:r.span[1]] = True
            assert got[masks[t.index]].all(), f"{t.label} misses inputs it reads"


def test_input_split_never_needs_another_board():
    # found by review: a 64x64x3 image into 32 filters fits one board with one input tile, and
    # halving the input's tiles while it saved packets took 384 of them and two boards
    import keras

    inp = keras.Input((64, 64, 3))
    out = keras.layers.Dense(10, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)))
    plan = spinn_dnn.plan_model(keras.Model(inp, out))
    first = plan.vertices[1]
    assert plan.n_cores <= spinn_dnn.machine.CORES_PER_BOARD
    assert 1 < len(plan.vertices[0].tiles) <= 1 + len(first.tiles)


def test_neuron_per_core_784_300_10_needs_more_than_a_board():
    model = _build("mnist_mlp1")
    with pytest.raises(DoesNotFitError, match=r"1094 cores.*2 boards.*the machine has 1"):
        spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), policy="neuron_per_core")


def test_neuron_per_core_784_300_10_maps_on_enough_boards(tmp_path):
    model = _build("mnist_mlp1")
    sm = spinn_dnn.from_keras(model, policy="neuron_per_core", run_dir=tmp_path)
    m = sm.mapping
    assert m.cores == 784 + 300 + 10 and m.boards >= 2
    assert all(r.atoms_per_tile == 1 for r in m.layers)
    # the thesis design multicasts one partial error per (hidden neuron, input): 300 x 784 packets
    assert m.packets_per_sample["bwd"] == 10 * 300
    assert all(np.array_equal(a, b) for a, b in zip(sm.get_weights(), model.get_weights(), strict=True))


def test_conv_tiles_receive_only_their_receptive_fields(tmp_path):
    model = _build("mnist_lenet5")
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), max_atoms_per_core=64,
                              run_dir=tmp_path)
    plan = sm.plan
    for layer in plan.layers:
        if layer.kind not in ("conv", "maxpool"):
            continue
        src_v = plan.vertex(plan.layers[layer.index - 1].name)
        fed = {}
        for r in plan.routes:
            if r.pid == "fwd" and r.src[0] == src_v.label:
                for d in r.dst:
                    fed.setdefault(d[1], set()).add(r.src[1])
        for t in plan.vertex(layer.name).tiles:
            need = receptive_mask(layer, t.lo, t.hi)
            want = {s.index for s in src_v.tiles if need[s.lo:s.hi].any()}
            assert fed[t.index] == want
        if layer.out_shape[0] > 1:  # C5's 5x5 kernel reads all of S4; the others read a band
            assert all(len(f) < len(src_v.tiles) for f in fed.values())
    keywalk.walk(plan, sm.toolchain)


def test_dense_too_big_for_a_core_is_split_in_two_dimensions(tmp_path):
    inp = keras.Input((20000,))
    x = keras.layers.Dense(40, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))
    sm = spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1), run_dir=tmp_path)
    roles = {v.role for v in sm.plan.vertices}
    assert {"block", "acc"} <= roles
    assert {"partial", "delta"} <= set(sm.mapping.packets_per_sample)
    for g, w in zip(sm.get_weights(), model.get_weights(), strict=True):
        assert np.array_equal(g, w)
    with pytest.raises(DoesNotFitError, match="one atom per core needs"):
        spinn_dnn.from_keras(model, policy="neuron_per_core", run_dir=tmp_path / "npc")


def _tiny():
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax")])


def test_toolchain_files_stay_in_the_run_folder(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    sm = spinn_dnn.from_keras(_tiny(), run_dir=tmp_path / "run")
    assert os.listdir(home) == [] and os.listdir(cwd) == []
    run = tmp_path / "run"
    assert (run / ".spiNNakerGraphFrontEnd.cfg").is_file() and (run / "reports").is_dir()
    assert sm.mapping.run_dir == str(run)


def test_two_mappings_at_once_do_not_collide(tmp_path):
    model = _tiny()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(spinn_dnn.from_keras, model, run_dir=tmp_path / f"run{i}") for i in range(2)]
        a, b = (f.result() for f in futures)
    assert a.toolchain.placements == b.toolchain.placements
    assert a.mapping.run_dir != b.mapping.run_dir
    c = spinn_dnn.from_keras(model)  # and again in the same process, default run folder
    assert c.toolchain.keys == a.toolchain.keys


def test_real_machine_that_does_not_answer_fails_clearly(tmp_path):
    # Loopback only: no test may send traffic beyond this machine.
    with pytest.raises(MachineUnavailableError, match="127.0.0.1"):
        spinn_dnn.from_keras(_tiny(), machine=spinn_dnn.BoardMachine("127.0.0.1"), run_dir=tmp_path / "b",
                             timeout_s=120)
    with pytest.raises(MachineUnavailableError, match="spalloc|127.0.0.1"):
        spinn_dnn.from_keras(_tiny(), machine=spinn_dnn.SpallocMachine("http://127.0.0.1:1/", boards=1),
                             run_dir=tmp_path / "s", timeout_s=120)


def test_route_pruning_removes_links_that_reach_no_core(mapped):
    # the toolchain sent each middle tile's gradient-ring sums, which go to the next tile on the
    # same chip, out on links to neighbours that route them nowhere (spinn_dnn.route_pruning);
    # the mapping's tables have none left, and a dead link put back is found and removed
    _, sm = mapped["mnist_lenet5"]
    result = sm.toolchain
    assert any("entry links carried copies to no core" in note for note in sm.mapping.notes)
    tables = result.tables
    local_rings = 0
    for r in sm.plan.routes:
        src = result.placements[r.src][:2]
        if r.pid != "gring" or {result.placements[d][:2] for d in r.dst} != {src}:
            continue
        key = sm.plan.tile(r.src).keys[r.partition][0]
        entry = next(e for e in tables[src] if key & e[1] == e[0])
        assert entry[3] == (), f"{r.src} {r.partition}: a ring hop on one chip still leaves it on {entry[3]}"
        local_rings += 1
    assert local_rings > 50
    # put a dead link back: out of the source chip to a neighbour whose entry routes the keys nowhere
    r = next(r for r in sm.plan.routes if r.pid == "gring")
    src = result.placements[r.src][:2]
    key, mask, _ = sm.plan.tile(r.src).keys[r.partition]
    link, neighbour = next(iter(result.links[src].items()))
    dead = {chip: list(entries) for chip, entries in tables.items()}
    i = next(i for i, e in enumerate(dead[src]) if key & e[1] == e[0])
    k, m, cores, links, default = dead[src][i]
    dead[src][i] = (k, m, cores, tuple(sorted(set(links) | {link})), default)
    dead[neighbour] = [(key, mask, (), (), False)] + dead.get(neighbour, [])
    pruned, summary = route_pruning.prune(sm.plan, dataclasses.replace(result, tables=dead, compressed=None))
    assert summary.links_removed == 1
    assert pruned.tables[src][i][3] == links
    keywalk.walk(sm.plan, pruned)
