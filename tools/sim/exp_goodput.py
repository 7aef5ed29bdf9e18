"""Experiment 2 (issue 7): delivery rate and goodput vs update interval,
client-to-client (OSCORE) vs server-centric.

    python -m tools.sim.exp_goodput [--scenario FILE] [--seed N] [--out DIR]

Scenario: tools/sim/scenarios/goodput.json (world.py "branches", 1 hop each side
by default, all mesh hops on one shared 802.15.4 channel). Every interval, for
experiment.duration_ms, the switch goes on (and off half an interval later): one
update, numbered by the switch's Digital Input Counter (3342/0/5501, it counts
the switchings on), which the light follows into
its Colour (3311/0/5706) -- directly (c2c) or through the server's observation
and Writes (server). An update is delivered when the light takes its number
before the run ends (duration + drain_ms); updates the host coalesced or a
queue dropped never arrive.

    delivery rate = updates delivered / updates made
    goodput       = updates delivered per second of the run (duration)
    latency       = median over delivered updates, press -> light
"""
import os

from tools.sim import world

NAME = "goodput"
SCENARIO = os.path.join(world.SCENARIOS, "goodput.json")
MODES = ("c2c", "server")
TITLE = "Delivery rate and goodput vs update interval, C2C vs server-centric"
PUBLISHED = ("Goodput ~8x higher client-to-client; server-centric delivery degrades "
             "below ~100 ms update intervals, C2C only near 10 ms (FIT IoT-LAB, RIOT + "
             "Wakaama, Leshan).")


def run_one(scn, interval_ms, mode):
    """(updates made, {update number: latency ms} of those delivered)."""
    scn = dict(scn, mode=mode)
    e = scn["experiment"]
    with world.World(scn) as w:
        w.settle()
        w.run_for(1000)
        pressed = {}
        half = interval_ms // 2
        end = w.radio.now_ms + e["duration_ms"]
        while w.radio.now_ms < end:
            pressed[(w.press("switch") + 1) // 2] = w.radio.now_ms     # on: the counter + 1
            w.run_for(half)
            w.press("switch")                                        # off: not observed
            w.run_for(interval_ms - half)
        w.run_for(e["drain_ms"])
        w.check_sources()
        got = {}
        for t, v in w.deliveries["light"]:
            k = int(v)
            if k in pressed and k not in got:
                got[k] = t - pressed[k]
    return len(pressed), got


def run(scenario, out_dir=None):
    intervals = world.param(scenario, "intervals_ms", world.ints(2, 60000),
                            "a list of intervals 2..60000 ms")
    for key in ("duration_ms", "drain_ms"):
        world.param(scenario, key, lambda v: isinstance(v, int) and 0 <= v <= 3600000,
                    "0..3600000 ms")
    if scenario["experiment"]["duration_ms"] < max(intervals):
        raise world.ScenarioError("experiment.duration_ms is shorter than an interval")
    secs = scenario["experiment"]["duration_ms"] / 1000.0
    rows = []
    for iv in intervals:
        for m in MODES:
            made, got = run_one(scenario, iv, m)
            rows.append([iv, m, made, len(got), round(len(got) / made, 3),
                         round(len(got) / secs, 2), world.percentile(list(got.values()), 50)])
    table = {"columns": ["interval_ms", "mode", "updates", "delivered", "delivery_rate",
                         "goodput_per_s", "median_latency_ms"], "rows": rows}
    if out_dir:
        world.write_csv(os.path.join(out_dir, NAME + ".csv"), table["columns"], rows)
        plot(os.path.join(out_dir, NAME + ".png"), rows)
    return {"name": NAME, "title": TITLE, "table": table, "published": PUBLISHED,
            "notes": _notes(scenario, rows), "params": scenario}


def _notes(scn, rows):
    by = dict(((r[0], r[1]), r) for r in rows)
    ivs = sorted(set(r[0] for r in rows))
    at = 10 if 10 in ivs else ivs[0]
    c, s = by[(at, "c2c")], by[(at, "server")]

    def falls(mode):
        bad = [iv for iv in ivs if by[(iv, mode)][4] < 0.95]
        return "from %d ms down" % max(bad) if bad else "nowhere down to %d ms" % ivs[0]
    return ("Ours at %d ms: C2C delivers %.0f%% (%.1f updates/s), server-centric %.0f%% "
            "(%.1f updates/s), %.1fx the goodput; server-centric delivery falls %s, "
            "C2C %s. Server-centric, every notification becomes a CON Write, and "
            "CoAP allows one outstanding CON per peer (NSTART 1, RFC 7252 §4.7): the "
            "server Writes the light at most once per round trip over the %s ms "
            "backbone and the rest wait in its queue (their latency grows to seconds). "
            "This experiment found a limit of our engine, since fixed: a node refused "
            "(5.03) CON requests once its duplicate-detection table (128 on the unix "
            "port, 32 on MCU boards) was full of entries younger than MAX_TRANSMIT_SPAN, "
            "which capped the server-centric runs at 127 Writes whatever the interval "
            "(6.35 updates/s at 10 ms); it now runs idempotent and OSCORE requests "
            "without an entry (RFC 7252 §4.5, RFC 8613 §7.4 replay window). "
            "C2C notifications are NON (RFC 7641 §4.5), bounded only by the shared "
            "802.15.4 channel; our channel has no collisions and the nodes no "
            "processing time, so C2C holds up to shorter intervals than on the testbed "
            "(which saw it degrade near 10 ms)."
            % (at, 100 * c[4], c[5], 100 * s[4], s[5], c[5] / s[5] if s[5] else 0,
               falls("server"), falls("c2c"), scn["backbone"]["delay_ms"]))


def plot(path, rows):
    fig, (a, b) = world.figure(10, 4)
    for m, color in zip(MODES, ("tab:blue", "tab:red")):
        mine = [r for r in rows if r[1] == m]
        x = [r[0] for r in mine]
        style = dict(color=color, marker="o", label=m)
        a.plot(x, [r[4] for r in mine], **style)
        b.plot(x, [r[5] for r in mine], **style)
    for ax, label in ((a, "delivery rate"), (b, "goodput (updates delivered / s)")):
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("update interval (ms)")
        ax.set_ylabel(label)
        ax.legend()
        ax.grid(alpha=0.3)
    a.set_ylim(0, 1.05)
    b.set_yscale("log")
    world.save_figure(fig, path)


if __name__ == "__main__":
    import sys
    world.cli(sys.modules[__name__])
