"""The search benchmark's corpora: product-review-like documents on 24 topics, and Cranfield.

Documents are generated deterministically from English vocabularies: each has a main topic (most of
its topical words), often a side topic (a few words), a title and a body of mostly common words with
a Zipf-like skew. Queries are three to four words of one topic, some of them shared with related
topics; a document is graded 2 when its main topic is the query's and 1 when its side topic is.
"""

# The vocabularies read best as text.
# ruff: noqa: SIM905, E501

from __future__ import annotations

import gzip
import random
from pathlib import Path

COMMON = """
the a of and to in is it you that he was for on are with as i his they be at one have this from or
had by hot word but what some we can out other were all there when up use your how said an each
she which do their time if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under name very
through just form sentence great think say help low line differ turn cause much mean before move
right boy old too same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men change went light
kind off need house picture try us again animal point mother world near build self earth father
really quite pretty nice fine okay buy bought order arrived week month price worth quality would
recommend again happy disappointed expected overall product item review star stars received box
""".split()

TOPICS: dict[str, list[str]] = {
    "coffee": "coffee espresso grinder beans roast brew barista crema filter aroma arabica latte mug".split(),
    "running": "running shoes marathon trail sneakers cushioning stride jogging pace laces sole runner".split(),
    "camping": "tent camping sleeping bag stove lantern backpack hiking trail outdoor campfire tarp".split(),
    "baking": "baking oven flour dough bread yeast pastry cake cookies whisk butter knead loaf".split(),
    "gaming": "gaming console controller graphics multiplayer joystick fps headset keyboard mouse esports".split(),
    "audio": "headphones speakers bass audio wireless bluetooth noise cancelling earbuds treble volume".split(),
    "garden": "garden soil seeds compost shovel hose plants tomatoes watering fertilizer pruning weeds".split(),
    "cycling": "bicycle cycling helmet gears pedals saddle tires brakes chain handlebar frame ride".split(),
    "photo": "camera lens photography tripod shutter aperture zoom sensor flash portrait exposure".split(),
    "kitchen": "knife cutting board blender pan skillet cookware nonstick spatula stainless chef".split(),
    "baby": "stroller diaper crib infant toddler bottle pacifier nursery carrier blanket newborn".split(),
    "fitness": "dumbbells yoga mat workout gym resistance bands kettlebell strength cardio stretching".split(),
    "books": "novel author chapter plot characters paperback hardcover fiction mystery thriller sequel".split(),
    "phone": "smartphone battery charger screen protector case cable touchscreen apps android iphone".split(),
    "laptop": "laptop processor memory keyboard trackpad display ssd ultrabook ports charger hinge".split(),
    "pets": "dog puppy leash collar kibble treats cat litter scratching toy chew kennel".split(),
    "tea": "tea green oolong matcha teapot kettle leaves steep herbal chamomile infuser cup".split(),
    "skincare": "moisturizer sunscreen serum cleanser skin acne lotion hydrating spf toner cream".split(),
    "tools": "drill screwdriver hammer wrench cordless saw toolbox pliers socket battery workshop".split(),
    "travel": "luggage suitcase carry wheels passport travel airport backpack zipper pockets flight".split(),
    "watch": "watch strap dial waterproof quartz automatic bezel wrist chronograph smartwatch band".split(),
    "lighting": "lamp bulbs led dimmer brightness lighting desk warm ceiling fixture watt".split(),
    "sleep": "mattress pillow sleep firmness foam sheets duvet bedding comfort memory topper".split(),
    "music": "guitar strings piano keyboard amplifier tuner chords pedal ukulele drums practice".split(),
}
RELATED = [
    ("coffee", "tea"),
    ("running", "fitness"),
    ("camping", "travel"),
    ("baking", "kitchen"),
    ("gaming", "laptop"),
    ("audio", "music"),
    ("phone", "laptop"),
    ("sleep", "baby"),
]


def _zipf_choices(rng: random.Random, words: list[str], k: int) -> list[str]:
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return rng.choices(words, weights=weights, k=k)


def build(
    documents: int = 4800, seed: int = 2026
) -> tuple[list[dict[str, str]], list[tuple[str, dict[str, int]]]]:
    """Return ``(documents, queries)``; documents have ``id``, ``title``, ``body`` and ``text``."""
    rng = random.Random(seed)
    names = list(TOPICS)
    related = dict(RELATED) | {b: a for a, b in RELATED}
    corpus: list[dict[str, str]] = []
    labels: list[tuple[str, str | None]] = []
    for index in range(documents):
        main = names[index % len(names)]
        side = related.get(main) if rng.random() < 0.5 else rng.choice(names) if rng.random() < 0.5 else None
        body = _zipf_choices(rng, COMMON, rng.randint(30, 160))
        body += rng.choices(TOPICS[main], k=rng.randint(1, 7))
        if side is not None:
            body += rng.choices(TOPICS[side], k=rng.randint(1, 6))
        for _ in range(rng.randint(0, 3)):  # stray words of unrelated topics (a comparison, an aside)
            body += rng.choices(TOPICS[rng.choice(names)], k=rng.randint(1, 3))
        rng.shuffle(body)
        title = rng.choices(TOPICS[main], k=rng.randint(0, 2)) + _zipf_choices(rng, COMMON, rng.randint(2, 5))
        rng.shuffle(title)
        document = {
            "id": f"doc-{index:05d}",
            "title": " ".join(title).capitalize(),
            "body": " ".join(body) + ".",
        }
        document["text"] = f"{document['title']} {document['body']}"
        corpus.append(document)
        labels.append((main, side))
    queries: list[tuple[str, dict[str, int]]] = []
    for name in names:
        for _ in range(3):
            words = rng.sample(TOPICS[name], rng.randint(2, 4))
            grades: dict[str, int] = {}
            for document, (main, side) in zip(corpus, labels, strict=True):
                if main == name:
                    grades[document["id"]] = 2
                elif side == name:
                    grades[document["id"]] = 1
            queries.append((" ".join(words), grades))
    return corpus, queries


QUESTION_FORMS = (
    "which {} should I buy as a beginner?",
    "what is the best {} under fifty dollars",
    "looking for {} recommendations, any advice?",
    "is a {} worth it for everyday use",
)
"""Natural-language wrappings of the labelled queries, with words no document holds (as users ask)."""


def question_forms(texts: list[str]) -> list[str]:
    """Each labelled query's words inside one of `QUESTION_FORMS`, in turn (same grades)."""
    return [QUESTION_FORMS[index % len(QUESTION_FORMS)].format(text) for index, text in enumerate(texts)]


# -- the Cranfield collection ------------------------------------------------------------------------

CRANFIELD = Path(__file__).parent / "data" / "cranfield"


def _records(name: str) -> list[dict[str, str]]:
    """The ``.I``-numbered records of a SMART-format file, each field (``.T``, ``.W``...) as text."""
    records: list[dict[str, str]] = []
    field: str | None = None
    with gzip.open(CRANFIELD / f"{name}.gz", "rt", encoding="ascii") as file:
        for line in file:
            if line.startswith(".I "):
                records.append({"I": line[3:].strip()})
                field = None
            elif len(line.rstrip()) == 2 and line.startswith("."):
                field = line[1]
                records[-1][field] = ""
            elif field is not None:
                records[-1][field] += line
    return records


def cranfield() -> tuple[list[dict[str, str]], list[tuple[str, dict[str, int]]]]:
    """The Cranfield collection: 1,400 aeronautics abstracts and 225 natural-language questions.

    Returns ``(documents, queries)`` like `build`; a document's ``text`` is its abstract (whose
    first sentence is its title). The relevance codes 1-4 (1: a complete answer, 4: of minimum
    interest) become grades 4-1; code -1 (no interest) becomes 0. The judgements number the queries
    1-225 in file order (the file's own ``.I`` numbers skip), as every Cranfield reader does.
    """
    documents = [
        {"id": record["I"], "text": " ".join(record.get("W", "").split())}
        for record in _records("cran.all.1400")
    ]
    texts = [" ".join(record["W"].split()) for record in _records("cran.qry")]
    grades: dict[int, dict[str, int]] = {}
    with gzip.open(CRANFIELD / "cranqrel.gz", "rt", encoding="ascii") as file:
        for line in file:
            parts = line.split()
            if len(parts) >= 3:
                code = int(parts[2])
                grades.setdefault(int(parts[0]), {})[parts[1]] = 5 - code if 1 <= code <= 4 else 0
    return documents, [(text, grades.get(number, {})) for number, text in enumerate(texts, 1)]
