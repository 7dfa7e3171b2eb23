"""The README's demo table is the rendering of the kept demo ``metrics.csv``."""

from __future__ import annotations

import pandas as pd
import pytest

from genrec.report.readme import END, START, current_block, demo_table, main, replace_block


def test_the_readme_table_is_written_from_the_kept_demo_metrics(repo_root):
    kept = repo_root / "docs/results/demo_metrics.csv"
    readme = (repo_root / "README.md").read_text()
    block = current_block(readme)
    assert block == demo_table(kept).strip(), (
        "README.md's demo table differs from docs/results/demo_metrics.csv: rerun "
        "`make readme` after the demo (never type the numbers)"
    )
    table = pd.read_csv(kept)
    sft = table[table["model"] == "sft"].iloc[0]
    assert f"{sft['HR@10']:.4f}" in block and "SASRec" in block


def _metrics(path, hr_sft=0.5):
    rows = [
        {"model": "popularity", "sid_method": None, "label": "popularity", "n": 100,
         "invalid": 0, "top1_share": 1.0, "HR@10": 0.05, "NDCG@10": 0.02},
        {"model": "sasrec", "sid_method": None, "label": "sasrec", "n": 100, "invalid": 0,
         "top1_share": 0.1, "HR@10": 0.6, "NDCG@10": 0.55},
        {"model": "sft", "sid_method": "rqvae", "label": "sft (rqvae)", "n": 100,
         "invalid": 0, "top1_share": 0.2, "HR@10": hr_sft, "NDCG@10": 0.3},
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    for m in ("HR", "NDCG"):
        table[f"{m}@10_lo"] = table[f"{m}@10"] - 0.01
        table[f"{m}@10_hi"] = table[f"{m}@10"] + 0.01
    table.to_csv(path, index=False)
    return path


def test_update_rewrites_only_the_block_and_keeps_its_source(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n\n{START}\nold numbers 0.543\n{END}\n\nafter\n")
    metrics = _metrics(tmp_path / "metrics.csv", hr_sft=0.5123)
    keep = tmp_path / "docs/demo_metrics.csv"
    assert main(["--metrics", str(metrics), "--readme", str(readme), "--keep", str(keep)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n\n" + START) and text.endswith(f"{END}\n\nafter\n")
    assert "0.543" not in text
    assert "| SFT | rqvae | 0.5123 [0.502, 0.522] |" in text
    assert keep.read_text() == metrics.read_text()
    # a second run with the same numbers changes nothing; new numbers replace the old
    main(["--metrics", str(metrics), "--readme", str(readme), "--keep", str(keep)])
    assert readme.read_text() == text
    main(["--metrics", str(_metrics(metrics, 0.25)), "--readme", str(readme), "--keep", str(keep)])
    assert "| SFT | rqvae | 0.2500 [0.240, 0.260] |" in readme.read_text()


@pytest.mark.parametrize(
    "text", ["no markers\n", f"{END}\n{START}\n", f"{START}\n{START}\n{END}\n"]
)
def test_missing_or_misplaced_markers_are_a_clear_error(text):
    with pytest.raises(ValueError, match="README: expected one line"):
        replace_block(text, "table")
