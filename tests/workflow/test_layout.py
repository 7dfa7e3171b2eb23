"""Layout conventions a contributor relies on when finding the code behind a rule."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_rule_script_is_named_after_its_rule():
    pairs = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        rule = None
        for line in smk.read_text().splitlines():
            m = re.match(r"rule (\w+):", line)
            if m:
                rule = m.group(1)
            s = re.search(r'"\.\./workflow/scripts/(\w+)\.py"', line)
            if s and rule:
                pairs.append((rule, s.group(1)))
    assert len(pairs) >= 14
    assert [p for p in pairs if p[0] != p[1]] == []
    scripts = {p.stem for p in (REPO / "workflow" / "scripts").glob("*.py")}
    assert scripts == {script for _, script in pairs}  # no orphan scripts
