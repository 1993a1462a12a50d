"""benchmarks/rank_cost.py, small: through a real server, scoring the second stage only for
the first stage's best ranks the cells exactly as scoring both stages for every cell."""

from pathlib import Path

from benchmarks import rank_cost


def test_lazy_second_stage_ranks_as_the_eager_one(shared_data: Path, capsys) -> None:
    assert rank_cost.main(["--cells", "12", "--repeats", "1"]) == 0
    output = capsys.readouterr().out
    assert "same ranking: True" in output
    assert "| second stage for the first stage's best |" in output
