"""genrec.checkpoint: the fingerprint that decides whether a rerun may resume."""

from genrec import checkpoint


def test_fingerprint_follows_settings_and_input_bytes(tmp_path):
    f = tmp_path / "data.txt"
    f.write_text("a")
    d = tmp_path / "dir"
    d.mkdir()
    (d / "x").write_text("1")
    base = checkpoint.fingerprint({"lr": 1, "b": [1, 2]}, [f, None, d])
    assert base == checkpoint.fingerprint({"b": [1, 2], "lr": 1}, [f, d])  # key order, None
    assert base != checkpoint.fingerprint({"lr": 2, "b": [1, 2]}, [f, d])
    (d / "x").write_text("2")
    assert base != checkpoint.fingerprint({"lr": 1, "b": [1, 2]}, [f, d])


def test_stamp_marks_the_directory_for_one_fingerprint(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    assert not checkpoint.stamped_with(ckpt, "abc")
    checkpoint.stamp(ckpt, "abc", {"lr": 1})
    assert checkpoint.stamped_with(ckpt, "abc")
    assert not checkpoint.stamped_with(ckpt, "abd")
