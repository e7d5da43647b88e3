"""The C emulator (spinn_dnn._emulator) on hand-built machines: routing, queues, memories, timers.

Every expectation here is a SpiNNaker rule written down independently of the
emulator's code: first matching entry wins, default routing straight through
for a packet from a link, a core's own packet with no entry is dropped, a core
that cannot take a packet drops it and says which, DTCM is 64 KiB.
"""

from __future__ import annotations

import struct
import threading

import pytest

from spinn_dnn import _emulator, emulator  # built by pip install; missing means a broken install
from spinn_dnn.emulator import CoreSpec, EmulatedMachine, PacketDroppedError
from spinn_dnn.emulator.machine import route_word

E, NE, N, W, SW, S = range(6)
PART_FWD = 0


def keys_region(out: list[tuple[int, int, int]]) -> bytes:
    """A KEYS region (spinn_dnn/regions.py layout) with outgoing (key, mask, count) entries, no incoming."""
    words = [len(out)]
    for key, mask, count in out:
        words += [PART_FWD, key, mask, 0, count, count]
    return struct.pack(f"<{len(words) + 1}I", *words, 0)


def sender(where, key=0x100, count=3, program="test_echo") -> CoreSpec:
    return CoreSpec(where, program, [b"", keys_region([(key, 0xFFFFFF00, count)])], label=f"sender{where}")


def listener(where, program="test_echo") -> CoreSpec:
    return CoreSpec(where, program, [b"", keys_region([])], label=f"listener{where}")


def line_of_chips(n: int) -> tuple[list, dict]:
    """Chips (0,0) .. (n-1,0) joined east-west."""
    chips = [(x, 0) for x in range(n)]
    links = {c: {} for c in chips}
    for x in range(n - 1):
        links[(x, 0)][E] = (x + 1, 0)
        links[(x + 1, 0)][W] = (x, 0)
    return chips, links


def test_programs_are_built_in():
    assert {"test_echo", "test_slow_sink", "test_memory"} <= set(emulator.available_programs())


def test_route_word_layout():
    assert route_word([], [E]) == 1
    assert route_word([1], []) == 1 << 7
    assert route_word([0, 17], [S]) == (1 << 5) | (1 << 6) | (1 << 23)


def test_packets_follow_the_table_across_chips_and_default_route_through_an_empty_chip():
    chips, links = line_of_chips(3)
    tables = {
        (0, 0): [(0x100, 0xFFFFFF00, (), (E,))],
        # (1, 0) has no entry: the packets came along link E and continue east
        (2, 0): [(0x100, 0xFFFFFF00, (3, 4), ())],
    }
    em = EmulatedMachine(chips, links, tables, [sender((0, 0, 1)), listener((2, 0, 3)), listener((2, 0, 4)),
                                                 listener((1, 0, 3))])
    r = em.run(10**6)
    assert r.status == "quiescent" and r.dropped == 0
    assert r.deliveries_by_key() == {k: {(2, 0, 3): 1, (2, 0, 4): 1} for k in (0x100, 0x101, 0x102)}
    assert r.routers[(1, 0)]["default_routed"] == 3 and r.routers[(1, 0)]["routed"] == 0
    assert r.cores[(0, 0, 1)]["sent"] == 3 and r.cores[(1, 0, 3)]["received"] == 0
    # two link hops and the router of each of the three chips: the latency is paid per hop
    assert r.cycles > 2 * 60


def test_first_matching_entry_wins():
    chips, links = line_of_chips(1)
    tables = {(0, 0): [(0x101, 0xFFFFFFFF, (3,), ()), (0x100, 0xFFFFFF00, (2,), ())]}
    em = EmulatedMachine(chips, links, tables, [sender((0, 0, 1)), listener((0, 0, 2)), listener((0, 0, 3))])
    got = em.run(10**6).deliveries_by_key()
    assert got == {0x100: {(0, 0, 2): 1}, 0x101: {(0, 0, 3): 1}, 0x102: {(0, 0, 2): 1}}


def test_a_local_packet_no_entry_matches_is_dropped_and_named():
    chips, links = line_of_chips(1)
    tables = {(0, 0): [(0x100, 0xFFFFFFFF, (2,), ())]}  # only key 0x100 has an entry
    em = EmulatedMachine(chips, links, tables, [sender((0, 0, 1)), listener((0, 0, 2))], stop_on_drop=False)
    r = em.run(10**6)
    assert r.status == "quiescent"
    assert r.router_drops == {0x101: 1, 0x102: 1}
    assert r.routers[(0, 0)]["dropped_no_route"] == 2
    assert r.deliveries_by_key() == {0x100: {(0, 0, 2): 1}}
    em = EmulatedMachine(chips, links, tables, [sender((0, 0, 1)), listener((0, 0, 2))])
    with pytest.raises(PacketDroppedError, match="router"):
        em.run(10**6)


def test_a_route_to_a_missing_link_is_a_drop():
    chips, links = line_of_chips(1)
    em = EmulatedMachine(chips, links, {(0, 0): [(0x100, 0xFFFFFF00, (), (N,))]}, [sender((0, 0, 1))],
                         stop_on_drop=False)
    r = em.run(10**6)
    assert r.routers[(0, 0)]["dropped_no_link"] == 3 and r.router_drops == {0x100: 1, 0x101: 1, 0x102: 1}


def test_a_drop_three_chips_away_happens_when_the_packet_gets_there():
    """The router decides when the packet reaches it: the cores on the way get it first, a stop on
    the first drop names that later cycle, and a run stopped earlier has seen no drop yet."""
    chips, links = line_of_chips(4)
    # (0,0) sends east; (1,0) takes a copy for core 1 and forwards; (2,0) has no entry, so
    # default-routes; (3,0) routes north, where it has no link
    tables = {(0, 0): [(0x100, 0xFFFFFF00, (), (E,))], (1, 0): [(0x100, 0xFFFFFF00, (1,), (E,))],
              (3, 0): [(0x100, 0xFFFFFF00, (), (N,))]}

    def machine(stop_on_drop):
        return EmulatedMachine(chips, links, tables, [sender((0, 0, 1), count=1), listener((1, 0, 1))],
                               stop_on_drop=stop_on_drop)

    whole = machine(False)
    r = whole.run(10**6)
    core, key, cycle = whole._m.first_drop
    assert r.status == "quiescent" and (core, key) == (-1, 0x100)
    assert r.routers[(3, 0)]["dropped_no_link"] == 1 and r.cores[(1, 0, 1)]["received"] == 1

    stopping = machine(True)
    r = stopping.run(10**6, raise_on_drop=False)
    assert r.status == "stopped" and stopping._m.first_drop[2] == cycle
    assert r.cores[(1, 0, 1)]["received"] == 1  # (1,0) is passed before the drop
    with pytest.raises(PacketDroppedError) as caught:
        machine(True).run(10**6)
    assert caught.value.cycle == cycle

    early = machine(False)
    r = early.run(cycle - 1)
    assert r.status == "cycle_limit" and r.routers[(3, 0)]["dropped_no_link"] == 0 and not r.router_drops
    r = early.run(10**6)
    assert r.routers[(3, 0)]["dropped_no_link"] == 1 and early._m.first_drop[2] == cycle


def test_a_full_input_queue_drops_and_counts_per_core_and_key():
    chips, links = line_of_chips(1)
    n = 200
    tables = {(0, 0): [(0x100, 0xFFFFFF00, (2,), ())]}
    specs = [sender((0, 0, 1), count=n), listener((0, 0, 2), program="test_slow_sink")]
    r = EmulatedMachine(chips, links, tables, specs, rx_queue=4, stop_on_drop=False).run(10**8)
    c = r.cores[(0, 0, 2)]
    dropped = c["dropped_rx"] + c["dropped_task_queue"]
    assert dropped > 0 and c["received"] + dropped == n
    # the slow sink took 5 us per packet it kept, one at a time
    assert r.cycles >= c["received"] * 5 * 200
    per_key = r.drops_by_core()[(0, 0, 2)]
    assert sum(per_key.values()) == dropped and set(per_key) <= set(range(0x100, 0x100 + n))
    # a big enough input takes the burst (the task queue still holds only 16)
    r = EmulatedMachine(chips, links, tables, specs, rx_queue=1000, stop_on_drop=False).run(10**8)
    assert r.cores[(0, 0, 2)]["dropped_rx"] == 0


@pytest.mark.parametrize("exit_after", [0, 3])
def test_queued_packets_taken_ahead_make_the_same_run(exit_after):
    # The emulator takes a busy core's queued packets ahead of its clock (core.c, take_ahead)
    # instead of waking the core for each: the run must be the one a WAKE per packet makes,
    # drops included.  test_slow_isr handles each packet at interrupt level for 3 us and sends
    # from the handler, so packets queue behind one another and its input queue overflows; with
    # exit_after it exits from a handler, which must stop it at that handler's cycle, not earlier.
    chips, links = line_of_chips(2)
    tables = {(0, 0): [(0x100, 0xFFFFFF00, (2,), ()), (0x200, 0xFFFFFF00, (), (E,))],
              (1, 0): [(0x200, 0xFFFFFF00, (3,), ())]}
    params = struct.pack("<I", exit_after) if exit_after else b""
    middle = CoreSpec((0, 0, 2), "test_slow_isr", [params, keys_region([(0x200, 0xFFFFFF00, 1)])],
                      label="middle")
    specs = [sender((0, 0, 1), count=300), middle, listener((1, 0, 3))]
    ahead, plain = (EmulatedMachine(chips, links, tables, specs, rx_queue=4, stop_on_drop=False,
                                    take_ahead=take).run(10**8) for take in (True, False))
    assert ahead.status == plain.status == "quiescent"
    assert (ahead.cycles, ahead.deliveries) == (plain.cycles, plain.deliveries)
    assert ahead.drops_by_core() == plain.drops_by_core() != {}
    assert plain.cores[(0, 0, 2)]["dropped_rx"] > 0
    assert ahead.router_drops == plain.router_drops and ahead.routers == plain.routers
    assert ahead.keys == plain.keys
    for core, counters in plain.cores.items():
        assert {k: v for k, v in ahead.cores[core].items() if k != "wakes"} == \
            {k: v for k, v in counters.items() if k != "wakes"}, core
    if exit_after:
        assert plain.cores[(0, 0, 2)]["exit_code"] == 7 and plain.cores[(0, 0, 2)]["received"] == exit_after
    else:
        assert ahead.cores[(1, 0, 3)]["received"] > 0  # the middle core passed packets on
    # and the packets were taken ahead: fewer wakes, fewer events
    assert ahead.cores[(0, 0, 2)]["wakes"] < plain.cores[(0, 0, 2)]["wakes"] and ahead.events < plain.events


def test_without_key_stats_the_run_is_the_same_and_drops_are_still_per_key():
    chips, links = line_of_chips(1)
    tables = {(0, 0): [(0x100, 0xFFFFFF00, (2,), ())]}
    specs = [sender((0, 0, 1), count=200), listener((0, 0, 2), program="test_slow_sink")]
    runs = [EmulatedMachine(chips, links, tables, specs, rx_queue=4, stop_on_drop=False,
                            key_stats=ks).run(10**8) for ks in (True, False)]
    with_stats, without = runs
    assert (without.cycles, without.deliveries, without.cores) == (with_stats.cycles, with_stats.deliveries,
                                                                  with_stats.cores)
    assert without.drops_by_core() == with_stats.drops_by_core() != {}
    assert with_stats.deliveries_by_key() and not without.deliveries_by_key()  # sent/received per key: off


def test_memories_dma_and_timer():
    chips, links = line_of_chips(1)
    params = bytes(range(64)) + b"\xff" * 80
    spec = CoreSpec((0, 0, 5), "test_memory", [params, b"", None, None, 256], label="mem")
    em = EmulatedMachine(chips, links, {}, [spec])
    r = em.run(10**7)
    c = r.cores[(0, 0, 5)]
    assert r.status == "quiescent" and c["exited"] == 1 and c["exit_code"] == 0
    chunks, dma_done, last_tag, ticks = struct.unpack_from("<4I", em.read_state((0, 0, 5)))
    # 64 KiB less the 4 KiB stack, the state and the 64-byte buffer, in 1 KiB blocks
    assert chunks == (65536 - 4096 - c["state_bytes"] - 64) // 1024
    assert c["dtcm_used"] <= 65536
    assert (dma_done, last_tag, ticks) == (2, 8, 3)
    assert em.read_region((0, 0, 5), 4)[:64] == params[:64]
    assert c["dma_transfers"] == 2 and c["dma_bytes"] == 128 and c["timer_ticks"] == 3
    assert 3 * 10 * 200 <= r.cycles < 4 * 10 * 200  # 10 us ticks at 200 MHz


def test_same_machine_same_result_and_threads_do_not_interfere():
    chips, links = line_of_chips(2)
    tables = {(0, 0): [(0x100, 0xFFFFFF00, (2,), (E,))], (1, 0): [(0x100, 0xFFFFFF00, (1,), ())]}

    def build():
        return EmulatedMachine(chips, links, tables, [sender((0, 0, 1), count=100), listener((0, 0, 2)),
                                                      listener((1, 0, 1), program="test_slow_sink")],
                               rx_queue=8, stop_on_drop=False)

    ref = build().run(10**8)
    results = [None] * 4

    def go(i):
        results[i] = build().run(10**8)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert (r.cycles, r.cores, r.keys, r.routers) == (ref.cycles, ref.cores, ref.keys, ref.routers)


def test_bad_input_is_refused():
    m = _emulator.Machine()
    chip = m.add_chip(0, 0)
    with pytest.raises(ValueError, match="no core program"):
        m.add_core(chip, 1, "no_such_program", [])
    with pytest.raises(ValueError, match="already exists"):
        m.add_chip(0, 0)
    m.add_core(chip, 1, "test_echo", [b"", keys_region([])])
    with pytest.raises(ValueError):
        m.add_core(chip, 1, "test_echo", [b"", keys_region([])])  # core taken
    with pytest.raises(ValueError):
        m.add_route(chip, 0, 0, 1 << 30)  # no core 24


def test_callbacks_run_in_the_api_priority_order():
    chips, links = line_of_chips(1)
    tables = {(0, 0): [(0x100, 0xFFFFFF00, (2,), ())]}
    specs = [CoreSpec((0, 0, 2), "test_priorities", [], label="prio"), sender((0, 0, 1), count=1)]
    em = EmulatedMachine(chips, links, tables, specs)
    r = em.run(10**6)
    n, *log = struct.unpack_from("<17I", em.read_state((0, 0, 2)))
    # the user event (priority 0, interrupt level) first; then priority 1 in FIFO order, then 2, then 3;
    # the packet (FIQ) arrives after c_main's work and the first tasks, and preempts the rest
    order = log[:n]
    assert order.index(100) == 0
    queued = [i for i in order if i in (1, 11, 2, 3)]
    assert queued == [1, 11, 2, 3]
    # the packet, at FIQ level, does not wait for the queue: it runs before the last queued callbacks
    assert order.index(1000 + 0x100) < order.index(3)
    assert r.cores[(0, 0, 2)]["received"] == 1 and r.cores[(0, 0, 2)]["unhandled"] == 0


def test_a_program_that_refuses_its_image_is_reported_by_tile():
    chips, links = line_of_chips(1)
    bad_params = bytes(144)  # magic 0: not a spinn_dnn image
    spec = CoreSpec((0, 0, 1), "layer", [bad_params, keys_region([]), bytes(8), bytes(16), 64], label="H9[3]")
    em = EmulatedMachine(chips, links, {}, [spec])
    expected = r"H9\[3\] at \(0, 0, 1\) stopped with code 1: bad image"
    with pytest.raises(emulator.EmulatorError, match=expected):
        em.run(10**6, exit_codes={1: "bad image"})
    r = EmulatedMachine(chips, links, {}, [spec]).run(10**6)  # without exit_codes: reported, not raised
    assert r.cores[(0, 0, 1)]["exit_code"] == 1 and r.status == "quiescent"


def test_a_link_too_busy_for_too_long_drops_at_the_router():
    # 16 cores each send one 72-bit packet a microsecond over one link: the link carries one per
    # 58 cycles, they arrive at 16 per 200 cycles; the queue for the link grows until the router
    # gives up on a packet (back-pressure), as on the hardware
    chips, links = line_of_chips(2)
    tables = {(0, 0): [(0x0, 0xFFFF0000, (), (E,))], (1, 0): [(0x0, 0xFFFF0000, (1,), ())]}
    senders = [sender((0, 0, p), key=0x100 * p, count=50) for p in range(1, 17)]
    specs = senders + [listener((1, 0, 1))]
    r = EmulatedMachine(chips, links, tables, specs, rx_queue=100_000, stop_on_drop=False).run(10**8)
    busy = r.routers[(0, 0)]["dropped_link_busy"]
    assert busy > 0 and sum(r.router_drops.values()) == busy
    assert r.cores[(1, 0, 1)]["received"] + busy == 16 * 50
    with pytest.raises(PacketDroppedError, match="router"):
        EmulatedMachine(chips, links, tables, specs, rx_queue=100_000).run(10**8)
    # one sender alone fits the link: nothing dropped, and each packet paid the link's time
    r = EmulatedMachine(chips, links, tables, [senders[0], listener((1, 0, 1))]).run(10**8)
    assert r.dropped == 0 and r.cores[(1, 0, 1)]["received"] == 50
