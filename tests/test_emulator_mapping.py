"""The emulator runs a real mapping: MNIST MLP-1 placed and routed by the SpiNNaker toolchain.

Every core runs the test_echo program, which sends one packet for each key of
its outgoing partitions (from its KEYS region, as the data specification wrote
it).  Where each key lands in the emulator must be exactly where spinn_dnn's
key walk, walking the toolchain's own tables independently, says it lands,
and exactly the plan's destination tiles.
"""

from __future__ import annotations

import numpy as np
import pytest

import spinn_dnn
from spinn_dnn import (
    _emulator,  # noqa: F401 - built by pip install; missing means a broken install
    keywalk,
)
from spinn_dnn.emulator import EmulatedMachine, PacketDroppedError


@pytest.fixture(scope="module")
def mlp1(tmp_path_factory):
    import workloads

    model = workloads.get("mnist_mlp1").build_model()
    return spinn_dnn.from_keras(model, machine=spinn_dnn.VirtualMachine(boards=1),
                                run_dir=tmp_path_factory.mktemp("mlp1"))


def _echo(sm, **kwargs) -> EmulatedMachine:
    return EmulatedMachine.from_mapping(sm.plan, sm.toolchain, programs=lambda tile: "test_echo", **kwargs)


def test_echo_delivers_exactly_where_the_key_walk_goes(mlp1):
    sm = mlp1
    result = _echo(sm, rx_queue=100_000).run(10**9)
    assert result.status == "quiescent" and result.dropped == 0 and result.error is None
    got = result.deliveries_by_key()

    tables = keywalk._tables(sm.toolchain.tables)
    expected: dict[int, dict[tuple[int, int, int], int]] = {}
    n_keys = 0
    for route in sm.plan.routes:
        key, _, n = sm.plan.tile(route.src).keys[route.partition]
        keys = np.arange(key, key + n, dtype=np.uint64)
        problems: list[str] = []
        reached = keywalk._walk_keys(keys, sm.toolchain.placements[route.src], tables, sm.toolchain.links,
                                     keywalk.WalkSummary(0, 0, 0, 0), problems, "test")
        assert not problems
        plan_cores = {sm.toolchain.placements[d] for d in route.dst}
        assert set(reached) == plan_cores
        for core, hit in reached.items():
            for k in keys[hit].tolist():
                expected.setdefault(int(k), {})[core] = 1
        n_keys += n
    assert got == expected
    assert len(got) == n_keys == sum(sm.mapping.packets_per_sample.values())
    assert result.deliveries == sum(len(v) for v in expected.values()) == sm.mapping.key_walk["deliveries"]
    # every core sent each of its keys once, and nothing else
    for rows in result.keys.values():
        assert all(sent in (0, 1) for _, sent, _, _ in rows)
    assert result.total("sent") == n_keys
    assert result.cycles > 0 and result.modeled_seconds == result.cycles / 200e6


def test_echo_runs_are_bit_identical(mlp1):
    a = _echo(mlp1, rx_queue=100_000).run(10**9)
    b = _echo(mlp1, rx_queue=100_000).run(10**9)
    assert (a.cycles, a.events, a.cores, a.keys, a.routers) == \
        (b.cycles, b.events, b.cores, b.keys, b.routers)


def test_input_overflow_stops_the_run_naming_core_and_partition(mlp1):
    sm = mlp1
    # H1[0] takes 5 us over each packet; the input tile sends its 784 pixels in a burst
    em = EmulatedMachine.from_mapping(
        sm.plan, sm.toolchain, programs=lambda t: "test_slow_sink" if t.label == "H1[0]" else "test_echo",
        rx_queue=100_000)
    with pytest.raises(PacketDroppedError) as info:
        em.run(10**9)
    err = info.value
    assert "H1[0]" in err.core and str(sm.toolchain.placements[("H1", 0)]) in err.core
    # both the pixels and the output layer's errors (test_echo sends every key at once) pour in
    assert err.partition in ("input[0] fwd", "output[0] bwd.0")
    tile, pid = err.partition.split()
    key, _, n = sm.plan.tile((tile.split("[")[0], 0)).keys[pid]
    assert key <= err.key < key + n
    assert "H1[0]" in str(err) and err.partition in str(err)


def test_input_overflow_is_counted_when_the_run_goes_on(mlp1):
    sm = mlp1
    where = sm.toolchain.placements[("H1", 0)]
    em = EmulatedMachine.from_mapping(
        sm.plan, sm.toolchain, programs=lambda t: "test_slow_sink" if t.label == "H1[0]" else "test_echo",
        rx_queue=100_000, stop_on_drop=False)
    r = em.run(10**9)
    key, _, n = sm.plan.tile(("input", 0)).keys["fwd"]
    drops = r.drops_by_core()
    assert set(drops) == {where}  # only the slow core drops
    c = r.cores[where]
    assert c["dropped_task_queue"] == sum(drops[where].values()) > 0
    assert set(drops[where]) & set(range(key, key + n))  # pixels were dropped
    # every pixel (and every error from the output layer) was either taken or dropped, once
    rows = {k: (received, dropped) for k, sent, received, dropped in r.keys[where] if not sent}
    assert all(rows[k] in ((1, 0), (0, 1)) for k in range(key, key + n))
    assert all(sum(v) == 1 for v in rows.values())
    assert r.dropped == c["dropped_task_queue"]
