"""The one prompt module shared by SFT, RL and evaluation.

Each builder returns the prompt text (ending with the response header). The
response is the target SID string or title, followed by the tokenizer's EOS
token where the caller trains on it. Evaluation and RL call exactly the same
builders, so the task-1 prompt is byte-identical in every stage.
"""

from __future__ import annotations

from collections.abc import Sequence

RESPONSE_HEADER = "### Response:\n"
INPUT_HEADER = "### Input:\n"

TASKS = (
    "sid_next",  # 1. SID history -> next SID (the recommendation task)
    "sid_to_title",  # 2a. SID -> title
    "title_to_sid",  # 2b. title -> SID
    "title_history_to_sid",  # 3. title history -> next SID
    "sid_history_to_title",  # 4. SID history -> next title
    "title_history_to_title",  # 5. title history -> next title (optional)
)


def _format(instruction: str, inp: str) -> str:
    return f"### Instruction:\n{instruction}\n{INPUT_HEADER}{inp}\n{RESPONSE_HEADER}"


def _sid_list(sids: Sequence[str]) -> str:
    return ", ".join(sids)


def _title_list(titles: Sequence[str]) -> str:
    return ", ".join(f'"{t}"' for t in titles)


def sid_next(history_sids: Sequence[str]) -> str:
    """Task 1: the user's items as SIDs, oldest first -> next item's SID."""
    return _format(
        "Given the items the user interacted with in order, predict the next item.",
        _sid_list(history_sids),
    )


def sid_to_title(sid: str) -> str:
    """Task 2a: an item's SID -> its title."""
    return _format("What is the title of this item?", sid)


def title_to_sid(title: str) -> str:
    """Task 2b: an item's title -> its SID."""
    return _format("Which item has this title?", f'"{title}"')


def title_history_to_sid(history_titles: Sequence[str]) -> str:
    """Task 3: the user's items as titles -> next item's SID."""
    return _format(
        "Given the titles of the items the user interacted with in order, predict the next item.",
        _title_list(history_titles),
    )


def sid_history_to_title(history_sids: Sequence[str]) -> str:
    """Task 4: the user's items as SIDs -> next item's title."""
    return _format(
        "Given the items the user interacted with in order, predict the title of the next item.",
        _sid_list(history_sids),
    )


def title_history_to_title(history_titles: Sequence[str]) -> str:
    """Task 5: the user's items as titles -> next item's title."""
    return _format(
        "Given the titles of the items the user interacted with in order, "
        "predict the title of the next item.",
        _title_list(history_titles),
    )
