"""Synthetic raw data in the Amazon 2018 layout (the embedded ``demo`` dataset).

Structure, all deterministic from ``seed``:

- items belong to categories (realistic names and per-category vocabularies
  for titles and descriptions) and to brands that each sell in one category;
- items come in **product lines** of ``line_size`` items: one brand, one
  category, a line name and three line words that every member's title and
  description share, plus a part name per member (``Refill``, ``Adapter``,
  ``Carry Case``, ...). Items of a line are close in content, so their text
  embeddings, and so their Semantic IDs, share prefixes;
- popularity is skewed (Zipf within each category);
- categories have a transition distribution (stay, two related categories,
  a little uniform noise);
- a user's next item is, with probability ``p_successor``, the next part of the
  current item's product line (the refill after the starter kit, the case after
  the refill, ...; cyclic within the line), otherwise a popular item of a
  category drawn from the transitions. So the next item is predictable from the
  last one beyond popularity: by an item-to-item model (SASRec), and by a model
  that reads the last item's SID, whose prefix (the line) it keeps and whose part
  it advances;
- timestamps increase along each sequence (gaps of 1 h to 30 days), users start
  anywhere in 2016-01-01 .. 2018-06-01.

Sequences are generated step by step for all users at once (numpy), so a
million reviews take seconds.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import random
from pathlib import Path

import numpy as np

from genrec.io import atomic_path

log = logging.getLogger(__name__)

TOP_CATEGORY = "Industrial & Scientific"
VOCAB = {
    "Power Tools": "drill saw cordless impact driver battery grinder sander torque brushless rotary jigsaw",
    "Lab Supplies": "beaker pipette flask graduated borosilicate tube centrifuge petri sterile slide funnel burette",
    "Fasteners": "screw bolt nut washer stainless hex anchor rivet threaded zinc lag socket",
    "Safety Equipment": "gloves goggles respirator helmet earplugs vest reflective nitrile shield harness visibility disposable",
    "Electrical": "wire connector terminal breaker switch relay fuse conduit voltage insulated crimp outlet",
    "Adhesives & Sealants": "epoxy tape glue sealant silicone adhesive duct caulk bonding cyanoacrylate waterproof gasket",
    "Test & Measurement": "multimeter caliper thermometer gauge tester digital meter probe scale hygrometer laser oscilloscope",
    "Janitorial": "mop bucket bags cleaner disinfectant broom towel dispenser wipes degreaser squeegee sponge",
    "Plumbing": "valve fitting hose pipe coupling brass pressure pump clamp flange elbow pvc",
    "3D Printing": "filament pla nozzle extruder petg resin plate spool hotend abs bed printer",
    "Abrasives": "sandpaper grit disc wheel polishing flap belt abrasive pad emery buffing cutoff",
    "Material Handling": "cart dolly pallet truck casters shelving hoist strap lifting bin rack conveyor",
}
GENERIC = (
    "heavy duty professional premium compact durable portable industrial commercial grade".split()
)
SPECS = ["{n}-Pack", "{n} Count", "{n} mm", "{n} in", "Set of {n}", "{n} oz", "Size {n}"]
SYLLABLES = "ka ro mi tek ven dur ax lo pri zen tor gal bex ny cor fel sta qua mar vio".split()
PARTS = (
    "Starter Kit", "Refill Pack", "Adapter", "Replacement Head", "Carry Case", "Wall Mount",
    "Cable", "Filter", "Spare Blade", "Battery Pack", "Cleaning Kit", "Extension",
)  # fmt: skip


def _word(rng: np.random.Generator, n_syll: int) -> str:
    return "".join(rng.choice(SYLLABLES, size=n_syll))


def _categories(rng: np.random.Generator, n: int) -> list[tuple[str, list[str]]]:
    names = list(VOCAB)
    out = [(name, VOCAB[name].split()) for name in names[:n]]
    for c in range(len(out), n):
        out.append((f"Category {c + 1}", [_word(rng, 2) for _ in range(12)]))
    return out


def _sample_rows(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per row from the categorical distributions ``cum[rows]`` (cumulative)."""
    u = rng.random(len(rows))[:, None]
    return np.minimum((u > cum[rows]).sum(axis=1), cum.shape[1] - 1)


def generate(
    *,
    n_users: int,
    n_items: int,
    n_categories: int,
    n_brands: int,
    min_seq_len: int,
    max_seq_len: int,
    seed: int,
    p_successor: float,
    line_size: int,
    zipf: float = 0.6,
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Interactions (``user``, ``item`` indices, ``ts``) and item metadata records.

    The keywords but ``zipf`` are the ``datasets.<name>.synthetic`` config block, whose
    defaults live in the config schema. ``zipf`` (the popularity skew) is no config key.
    """
    if min_seq_len > max_seq_len:
        raise ValueError("min_seq_len must not exceed max_seq_len")
    if n_items < n_categories:
        raise ValueError("n_items must be at least n_categories")
    if line_size < 1:
        raise ValueError("line_size must be at least 1")
    rng = np.random.default_rng(seed)
    cats = _categories(rng, n_categories)
    C = n_categories

    # Product lines (a random item order dealt round-robin), each in one category; at
    # least one line per category so that every category has items.
    n_lines = max(-(-n_items // line_size), C)
    line_of = np.empty(n_items, dtype=np.int64)
    line_of[rng.permutation(n_items)] = np.arange(n_items) % n_lines
    line_cat = rng.permutation(np.arange(n_lines) % C)
    cat_of = line_cat[line_of]
    line_members = [np.flatnonzero(line_of == ln) for ln in range(n_lines)]
    members = [np.flatnonzero(cat_of == c) for c in range(C)]
    pop = np.empty(n_items)
    for m in members:
        pop[m] = 1.0 / (1.0 + rng.permutation(len(m))) ** zipf
    cum_in_cat = [np.cumsum(pop[m]) / pop[m].sum() for m in members]
    per_cat = max(1, n_brands // C)
    line_brand = (line_cat * per_cat + rng.integers(0, per_cat, n_lines)) % n_brands
    brand_of = line_brand[line_of]
    brands = sorted({_word(rng, 2).capitalize() for _ in range(n_brands * 3)})
    brands = [brands[i] for i in rng.permutation(len(brands))[:n_brands]]
    while len(brands) < n_brands:  # tiny syllable space collisions
        brands.append(f"Brand{len(brands)}")

    # Category transitions: stay 0.3, two related categories 0.25 each, 0.2 uniform.
    T = np.full((C, C), 0.2 / C)
    for c in range(C):
        T[c, c] += 0.3
        others = [o for o in range(C) if o != c] or [c]
        for o in rng.choice(others, size=2, replace=len(others) < 2):
            T[c, o] += 0.25
    T /= T.sum(axis=1, keepdims=True)
    cumT = np.cumsum(T, axis=1)

    def popular_in(categories: np.ndarray) -> np.ndarray:
        out = np.empty(len(categories), dtype=np.int64)
        for c in range(C):
            rows = np.flatnonzero(categories == c)
            if len(rows):
                k = np.searchsorted(cum_in_cat[c], rng.random(len(rows)), side="right")
                out[rows] = members[c][np.minimum(k, len(members[c]) - 1)]
        return out

    # The successor of an item is the next part of its line (cyclic): the refill after
    # the starter kit, the case after the refill, ...
    succ = np.arange(n_items)
    for m in line_members:
        succ[m] = np.roll(m, -1)

    lengths = rng.integers(min_seq_len, max_seq_len + 1, n_users)
    seqs = np.full((n_users, max_seq_len), -1, dtype=np.int64)
    cur = popular_in(rng.choice(C, n_users))
    seqs[:, 0] = cur
    for t in range(1, max_seq_len):
        follow = rng.random(n_users) < p_successor
        noise = popular_in(_sample_rows(rng, cumT, cat_of[cur]))
        cur = np.where(follow, succ[cur], noise)
        seqs[:, t] = cur
    start = np.datetime64("2016-01-01").astype("datetime64[s]").astype(np.int64)
    stop = np.datetime64("2018-06-01").astype("datetime64[s]").astype(np.int64)
    gaps = rng.integers(3600, 30 * 86400, (n_users, max_seq_len))
    gaps[:, 0] = rng.integers(start, stop, n_users)
    times = np.cumsum(gaps, axis=1)
    valid = np.arange(max_seq_len)[None, :] < lengths[:, None]
    users = np.broadcast_to(np.arange(n_users)[:, None], seqs.shape)[valid]
    inter = {"user": users, "item": seqs[valid], "ts": times[valid]}

    # Text: Python's random (seeded) is much faster than numpy for per-item picks.
    text_rng = random.Random(int(rng.integers(2**31)))
    line_name = [_word(rng, 3).capitalize() for _ in range(n_lines)]
    line_words = [text_rng.sample(cats[line_cat[ln]][1], 3) for ln in range(n_lines)]
    # one description per line (what the line is for), shared by its members
    line_text = [
        f"{line_name[ln]} series "
        + " ".join(line_words[ln] + text_rng.choices(cats[line_cat[ln]][1], k=3))
        + " for "
        + " ".join(text_rng.choices(GENERIC, k=2))
        for ln in range(n_lines)
    ]
    part_of = np.empty(n_items, dtype=np.int64)
    for m in line_members:
        part_of[m] = np.arange(len(m)) % len(PARTS)
    meta = []
    for i in range(n_items):
        name, words = cats[cat_of[i]]
        brand = brands[brand_of[i]]
        ln = line_of[i]
        spec = text_rng.choice(SPECS).format(n=text_rng.randint(2, 99))
        title = (
            f"{brand} {line_name[ln]} "
            + " ".join(w.capitalize() for w in line_words[ln])
            + f" {PARTS[part_of[i]]}, {spec}"
        )
        d1 = line_text[ln] + f" {PARTS[part_of[i]].lower()}"
        d2 = f"Made by {brand} &amp; tested for {name.lower()} use."
        desc = (
            [f"<b>{d1.capitalize()}.</b>", d2]
            if text_rng.random() < 0.5
            else [d1.capitalize() + "."]
        )
        meta.append(
            {
                "category": [TOP_CATEGORY, name],
                "description": desc,
                "title": title,
                "brand": brand,
                "price": f"${text_rng.randint(3, 199)}.99",
                "item_index": i,
            }
        )
    return inter, meta


def _ids(rng: np.random.Generator, n: int, prefix: str, width: int) -> list[str]:
    codes = rng.choice(16**width, size=n, replace=False)
    return [f"{prefix}{c:0{width}X}" for c in codes]


def _write_gz_lines(lines, path: str | Path) -> None:
    """Deterministic gzip (no timestamp, no file name in the header), written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz:
                with io.TextIOWrapper(gz, encoding="utf-8") as fh:
                    for line in lines:
                        fh.write(line)


def write_synthetic(out_reviews: str | Path, out_meta: str | Path, **params) -> dict:
    """Write ``{name}_5.json.gz`` reviews and ``meta_{name}.json.gz`` items (Amazon 2018).

    ``params``: the complete ``datasets.<name>.synthetic`` config block, defaults filled
    by the config schema (see :func:`generate`). Returns a small summary (users, items,
    reviews).
    """
    inter, meta = generate(**params)
    rng = np.random.default_rng([int(params["seed"]), 1])
    user_ids = _ids(rng, int(inter["user"].max()) + 1, "A", 12)
    asins = _ids(rng, len(meta), "B0", 8)

    # Amazon's 5-core files are grouped by item; ties keep generation order.
    order = np.lexsort((inter["ts"], inter["user"], np.asarray(asins)[inter["item"]]))
    users, items, ts = inter["user"][order], inter["item"][order], inter["ts"][order]
    days = np.datetime_as_string(ts.astype("datetime64[s]"), unit="D")
    ratings = np.random.default_rng([int(params["seed"]), 2]).choice(
        [3.0, 4.0, 5.0, 5.0, 5.0], len(ts)
    )

    def review_lines():
        for u, i, t, d, r in zip(
            users.tolist(),
            items.tolist(),
            ts.tolist(),
            days.tolist(),
            ratings.tolist(),
            strict=True,
        ):
            yield (
                f'{{"overall": {r}, "verified": true, "reviewTime": "{d[5:7]} {d[8:10]}, {d[:4]}", '
                f'"reviewerID": "{user_ids[u]}", "asin": "{asins[i]}", '
                f'"unixReviewTime": {t}}}\n'
            )

    def meta_lines():
        for rec in meta:
            i = rec.pop("item_index")
            yield json.dumps({**rec, "asin": asins[i]}) + "\n"

    _write_gz_lines(review_lines(), out_reviews)
    _write_gz_lines(meta_lines(), out_meta)
    summary = {"users": len(user_ids), "items": len(asins), "reviews": len(ts)}
    log.info("synthetic data: %s -> %s, %s", summary, out_reviews, out_meta)
    return summary
