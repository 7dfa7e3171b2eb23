"""A failing workflow script leaves its error in the rule's log file."""

import subprocess
import sys
import textwrap


def test_uncaught_error_is_written_to_the_log_with_the_message_last(tmp_path):
    log = tmp_path / "logs" / "rule.log"
    script = textwrap.dedent(
        f"""
        from genrec.logging import setup_logging
        setup_logging({str(log)!r})
        try:
            {{}}["missing"]
        except KeyError as err:
            raise ValueError("reviews.json.gz:12: malformed record") from err
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode != 0
    text = log.read_text()
    assert "Traceback" in text and "KeyError" in text  # the chain is kept
    last = text.strip().splitlines()[-1]
    assert last.endswith("FAILED: ValueError: reviews.json.gz:12: malformed record")
    assert "FAILED: ValueError" in proc.stderr  # and still on stderr
