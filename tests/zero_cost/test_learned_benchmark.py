"""benchmarks/learned.py: its feature sets, and one small end-to-end run on stand-in scores.

The full run (docs/learned.md) scores every proxy on the 400 reference cells; here the
scores are random stand-ins with the real cells and accuracies, so only the mechanics are
checked (every section written, the tables on the feature set picked on the development
half, the halves disjoint).
"""

from pathlib import Path

from benchmark_support import stand_in_table

from benchmarks import learned
from benchmarks.reproduce_nb201 import CLASSIC_PROXIES
from zero_cost import proxies


def test_fast_features_are_every_proxy_but_the_slow_ones():
    sets = learned.feature_sets(("meco",))
    assert set(sets["fast"]) == set(proxies.names()) - set(learned.SLOW_PROXIES)
    assert sets["classic"] == [*CLASSIC_PROXIES, "meco"]
    assert set(sets["classic"]) < set(sets["fast"])


def test_a_small_run_writes_every_section(shared_data: Path, tmp_path: Path):
    table = tmp_path / "scores.csv"
    stand_in_table(shared_data, table)
    output = tmp_path / "learned.md"
    argv = ["--scores-csv", str(table), "--datasets", "cifar10_test", "--sizes", "20"]
    argv += ["--repeats", "1", "--cv-seeds", "1", "--processes", "1", "--output", str(output)]

    assert learned.main(argv) == 0

    text = output.read_text()
    for heading in ("## Learning curve", "## Cross-validation on all cells", "## Goals"):
        assert heading in text
    assert (
        "| n labelled | held out | CIFAR-10 learned | CIFAR-10 baseline | CIFAR-10 default |"
        in text
    )
    assert "* **Label-free default**: `log_rank(meco), best 20% re-ranked by" in text
    choice = text[text.index("## How the feature set was chosen") :]
    rows = [line for line in choice.splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| `classic`", "development"],
        ["| `fast`", "development"],
        ["| `classic`", "confirmation"],
        ["| `fast`", "confirmation"],
    ]
    picked = choice.split("The development half picks `")[1].split("`")[0]
    features = ", ".join(learned.feature_sets(("meco",))[picked])
    assert f"the proxy scores {features} (log-scale" in text  # the tables use the pick


def test_halves_are_disjoint_and_cover_every_cell():
    halves = learned.split_halves(400)
    development, confirmation = halves["development"], halves["confirmation"]
    assert development.size == confirmation.size == 200
    assert sorted([*development, *confirmation]) == list(range(400))


def test_the_pick_is_the_higher_mean_on_its_half():
    choice = {
        ("classic", "development", "c10", 50): 0.90,
        ("classic", "development", "c10", 100): 0.96,
        ("fast", "development", "c10", 50): 0.94,
        ("fast", "development", "c10", 100): 0.93,  # mean 0.935 vs 0.93
        ("classic", "confirmation", "c10", 50): 0.99,
        ("fast", "confirmation", "c10", 50): 0.90,
    }
    assert learned.picked_set(choice, "development") == "fast"
    assert learned.picked_set(choice, "confirmation") == "classic"
