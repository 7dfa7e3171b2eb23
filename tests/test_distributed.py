"""The one launch protocol (genrec.distributed): accelerate launch -> genrec.distributed.main."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from genrec import distributed
from genrec import params as params_codec


@pytest.fixture
def entry_module(tmp_path, monkeypatch):
    """A module the launched ranks can import: writes what each rank saw."""
    (tmp_path / "rank_probe.py").write_text(
        textwrap.dedent(
            """
            import json, os
            from pathlib import Path

            from genrec.distributed import rank_info

            def record(out_dir, values, fail=False):
                if fail:
                    raise ValueError("rank failed on purpose")
                rank, world, local = rank_info()
                Path(out_dir, f"rank{rank}.json").write_text(
                    json.dumps({"world": world, "local": local, "values": values,
                                "cvd": os.environ.get("CUDA_VISIBLE_DEVICES")}))

            def record_params(out_dir, params):
                Path(out_dir, "params.json").write_text(
                    json.dumps({"type": type(params).__qualname__, "fields": params.to_dict()}))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def test_rank_main_calls_the_entry_with_the_json_kwargs(entry_module, tmp_path):
    spec = {"entry": "rank_probe:record", "kwargs": {"out_dir": str(tmp_path), "values": [1, 2]}}
    (tmp_path / "a.json").write_text(json.dumps(spec))
    distributed.main([str(tmp_path / "a.json")])
    got = json.loads((tmp_path / "rank0.json").read_text())
    assert got["world"] == 1 and got["values"] == [1, 2]


@pytest.mark.slow
def test_launch_runs_the_entry_in_accelerate_ranks(entry_module, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    distributed.launch(
        "rank_probe:record", {"out_dir": out, "values": {"a": 1}}, 1, tmp_path / "l" / "args.json"
    )
    got = json.loads((out / "rank0.json").read_text())
    assert got["world"] == 1 and got["values"] == {"a": 1}
    spec = json.loads((tmp_path / "l" / "args.json").read_text())
    assert spec == {
        "entry": "rank_probe:record",
        "kwargs": {"out_dir": str(out), "values": {"a": 1}},
    }
    with pytest.raises(RuntimeError, match="rank_probe:record failed with exit code"):
        distributed.launch(
            "rank_probe:record", {"out_dir": out, "values": 0, "fail": True}, 1, tmp_path / "b.json"
        )


def _rl_params():
    from genrec.rl.params import RlParams

    return RlParams.defaults(rewards={"semantic": 0.5}, seed=7)


def test_rank_main_turns_param_records_back_into_objects(entry_module, tmp_path):
    params = _rl_params()
    spec = {
        "entry": "rank_probe:record_params",
        "kwargs": {"out_dir": str(tmp_path), "params": params_codec.encode(params)},
    }
    (tmp_path / "a.json").write_text(json.dumps(spec))
    distributed.main([str(tmp_path / "a.json")])
    got = json.loads((tmp_path / "params.json").read_text())
    assert got == {"type": "RlParams", "fields": params.to_dict()}


@pytest.mark.slow
def test_launch_carries_param_objects_to_the_ranks(entry_module, tmp_path):
    params = _rl_params()
    out = tmp_path / "out"
    out.mkdir()
    kwargs = {"out_dir": out, "params": params}
    distributed.launch("rank_probe:record_params", kwargs, 1, tmp_path / "args.json")
    got = json.loads((out / "params.json").read_text())
    assert got == {"type": "RlParams", "fields": params.to_dict()}
    spec = json.loads((tmp_path / "args.json").read_text())
    assert params_codec.decode(spec["kwargs"]["params"]) == params


def test_entry_must_name_module_and_function(tmp_path):
    with pytest.raises(ValueError, match="'module:function'"):
        distributed.launch("genrec.sft.train", {}, 2, tmp_path / "a.json")


def test_shard_bounds_cover_every_item_once():
    spans = [distributed.shard_bounds(10, r, 3) for r in range(3)]
    assert spans == [(0, 4), (4, 7), (7, 10)]


def test_param_objects_inside_lists_and_dicts_reach_the_rank_as_objects():
    """What `launch` writes (`_jsonable`, through JSON) is what a rank's `main` passes on."""
    params = _rl_params()
    kwargs = {"runs": [params, {"inner": params}], "path": Path("/x"), "n": None}
    sent = json.loads(json.dumps(distributed._jsonable(kwargs)))
    assert distributed._revive(sent) == {
        "runs": [params, {"inner": params}],
        "path": "/x",
        "n": None,
    }


def test_training_launches_for_several_gpus_or_one_of_several_but_never_from_a_rank(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(distributed, "visible_gpus", lambda: 1)
    assert [distributed.needs_launch(n) for n in (0, 1, 2)] == [False, False, True]
    monkeypatch.setattr(distributed, "visible_gpus", lambda: 4)
    assert distributed.needs_launch(1)  # Trainer would wrap the model in DataParallel
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not distributed.needs_launch(2) and not distributed.needs_launch(1)
