"""The thesis prototype's backward pass drops packets on its 300-into-50 layer; this engine's does not.

Runs spinn_dnn.thesis.contrast, mapped by the real toolchain and run on the emulator.
"""

from __future__ import annotations

from spinn_dnn.thesis import contrast


def test_multicast_errors_one_neuron_per_core_drop_and_stall(tmp_path):
    r = contrast("thesis", samples=8, run_dir=str(tmp_path))
    assert r["cores"] == 16 + 300 + 50
    assert r["error_packets_per_sample"] == 300 * 50
    assert r["error_deliveries_per_sample"] == 300 * 50 * 300  # every error to every core below
    assert r["packets_dropped"] > 0 and not r["all_results_returned"]


def test_the_projects_design_on_the_same_layer_drops_nothing(tmp_path):
    r = contrast("project", samples=8, run_dir=str(tmp_path))
    # each output tile sends one partial error per hidden neuron, to the one tile that owns it
    assert r["error_deliveries_per_sample"] == r["error_packets_per_sample"]
    assert r["error_packets_per_sample"] % 300 == 0 and r["error_packets_per_sample"] < 300 * 50
    assert r["packets_dropped"] == 0 and r["all_results_returned"]
    assert r["packets_delivered"] > 0


def test_a_tile_with_many_error_senders_is_planned_with_a_buffer_for_each():
    import pytest

    from spinn_dnn import memory
    from spinn_dnn.model import plan_model
    from spinn_dnn.thesis import build_model

    plan = plan_model(build_model(), "auto")
    senders = {}
    for r in plan.routes:
        if r.pid == "bwd":
            for d in r.dst:
                senders[d] = senders.get(d, 0) + 1
    hidden = plan.vertices[1]
    assert len(plan.vertices[2].tiles) > 1  # the 50 outputs span tiles, each sending errors back
    for t in hidden.tiles:
        (buf,) = [m for m in t.memory if m.name == "error buffers"]
        assert buf.bytes == senders[(hidden.label, t.index)] * t.n_atoms * plan.in_flight * memory.F32
    # counted for one sender, all 300 hidden neurons fit one core; counted for each, they do not,
    # so the hidden layer was re-tiled smaller (the C program's own allocation is checked by
    # test_the_projects_design_on_the_same_layer_drops_nothing, which runs it)
    one_sender = sum(m.bytes for m in memory.dense(300, 16, plan.in_flight) if m.where == "dtcm")
    assert one_sender + memory.DTCM_FIXED <= memory.DTCM_BYTES
    assert hidden.atoms_per_tile < 300 and len(hidden.tiles) > 1
    with pytest.raises(ValueError, match="per_tile, multicast, thesis"):
        plan_model(build_model(), "auto", error_routing="broadcast")
