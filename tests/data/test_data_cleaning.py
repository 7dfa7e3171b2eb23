import pandas as pd

from genrec.data.cleaning import clean_items, clean_text, title_mask


def test_clean_text_tags_entities_whitespace():
    s = pd.Series(["<p>Hello&nbsp;<b>world</b></p>\n\t x", "A &amp; B", "&lt;br&gt;x", None, "  "])
    assert clean_text(s).tolist() == ["Hello world x", "A & B", "x", "", ""]


def test_title_mask_empty_and_too_long():
    titles = pd.Series(["", "one two three", "a b c d e f"])
    assert title_mask(titles, max_words=5).tolist() == [False, True, False]


def test_clean_items_cleans_categories_and_brand():
    items = pd.DataFrame(
        {
            "source_id": ["X"],
            "title": ["<i>T</i>"],
            "description": ["d  &quot;q&quot;"],
            "brand": [" Black &amp; Decker "],
            "categories": [["Tools &amp; Home", "", "Tools & Home", "<b>Saws</b>"]],
        }
    )
    out = clean_items(items).iloc[0]
    assert out["title"] == "T"
    assert out["description"] == 'd "q"'
    assert out["brand"] == "Black & Decker"
    assert out["categories"] == ["Tools & Home", "Saws"]


def test_inline_tags_leave_no_space_before_punctuation():
    got = clean_text(
        pd.Series(["<b>Nitrile Gloves</b>, 100 ct", "Drill (<i>cordless</i>).", "a<br>b</p>!"])
    )
    assert got.tolist() == ["Nitrile Gloves, 100 ct", "Drill (cordless).", "a b!"]
