"""A seeded English sentence generator for the training speech (numbers spelled out).

A small phrase grammar over a few hundred everyday words: statements, questions, lists,
quantities and times.  Output is upper-case-free plain text with only letters, spaces,
apostrophes and sentence punctuation, so the reference maps cleanly onto the
wav2vec2-base-960h alphabet.
"""
from __future__ import annotations

import random

NAMES = ("anna ben clara david emma frank grace henry iris jack kate leo maria nora oscar paul "
         "rosa sam tom una victor wendy alice peter laura simon helen martin julia").split()
ADJ = ("old young small large quiet loud bright dark warm cold green red blue yellow brown white black "
       "happy tired busy careful clever gentle heavy light empty full fresh sweet bitter soft hard "
       "early late tall short strange simple famous ancient modern narrow wide deep").split()
NOUNS = ("dog cat bird horse teacher doctor farmer driver painter child student baker sailor pilot "
         "neighbour friend brother sister mother father king queen captain singer writer nurse").split()
THINGS = ("book letter table window garden river bridge train bottle basket apple orange bread cake "
          "coffee river mountain village city road house door chair lamp picture song story map boat "
          "ticket key clock bell flower tree stone ball coat hat box bag phone camera bicycle").split()
PLACES = ("the market", "the station", "the library", "the kitchen", "the park", "the beach", "the office",
          "the school", "the museum", "the hospital", "the harbour", "the forest", "the bakery", "the garden",
          "the village", "the hotel", "the church", "the farm", "the theatre", "the bank")
VERBS_T = ("found saw bought painted carried opened closed cleaned moved sold wrote read brought took "
           "dropped lifted washed fixed built drew watched kept lost borrowed described remembered").split()
VERBS_I = ("laughed waited slept smiled arrived left walked danced sang worked travelled listened "
           "rested stopped answered shouted whispered returned").split()
ADVERBS = ("slowly quickly quietly loudly carefully happily suddenly early late again together "
           "outside inside yesterday today").split()
TIMES = ("in the morning", "in the evening", "at night", "after lunch", "before dinner", "on monday",
         "on friday", "last week", "next summer", "every day", "in the winter", "at noon")
COLOURS = ("red", "blue", "green", "yellow", "white", "black", "brown", "grey", "orange", "purple")
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
       "sixteen seventeen eighteen nineteen".split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> str:
    """English words for 0 <= n < 10000 (no 'and', as LibriSpeech style)."""
    if n < 20:
        return ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return TENS[t - 2] + ("" if o == 0 else " " + ONES[o])
    if n < 1000:
        h, r = divmod(n, 100)
        return ONES[h] + " hundred" + ("" if r == 0 else " " + spell_number(r))
    th, r = divmod(n, 1000)
    return spell_number(th) + " thousand" + ("" if r == 0 else " " + spell_number(r))


def _name(rng: random.Random) -> str:
    return rng.choice(NAMES).capitalize()


def _np(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return _name(rng)
    noun = rng.choice(NOUNS)
    if roll < 0.6:
        return f"the {rng.choice(ADJ)} {noun}"
    return f"{rng.choice(('the', 'my', 'our', 'her', 'his'))} {noun}"


def _thing(rng: random.Random) -> str:
    thing = rng.choice(THINGS)
    roll = rng.random()
    if roll < 0.35:
        n = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 21, 30, 44, 99, 100, 250])
        return f"{spell_number(n)} {thing}s".replace("boxs", "boxes").replace("churchs", "churches")
    if roll < 0.7:
        return f"the {rng.choice(ADJ + list(COLOURS))} {thing}"
    return f"a {thing}" if thing[0] not in "aeiou" else f"an {thing}"


TEMPLATES = (
    lambda r: f"{_np(r)} {r.choice(VERBS_T)} {_thing(r)} {r.choice(TIMES)}.",
    lambda r: f"{_np(r)} {r.choice(VERBS_I)} {r.choice(ADVERBS)} near {r.choice(PLACES)}.",
    lambda r: f"{_np(r)} {r.choice(VERBS_T)} {_thing(r)} at {r.choice(PLACES)}.",
    lambda r: f"did {_np(r)} see {_thing(r)} at {r.choice(PLACES)}?",
    lambda r: f"there are {spell_number(r.randint(2, 999))} {r.choice(THINGS)}s in {r.choice(PLACES)}."
    .replace("boxs", "boxes"),
    lambda r: f"{_name(r)} and {_name(r)} {r.choice(VERBS_I)} {r.choice(TIMES)}.",
    lambda r: f"the train leaves at {spell_number(r.randint(1, 12))} {r.choice(['o clock', 'thirty', 'fifteen'])}"
              f" {r.choice(TIMES)}.".replace("o clock", "o'clock"),
    lambda r: f"we need {_thing(r)}, {_thing(r)} and {_thing(r)}.",
    lambda r: f"why did {_np(r)} leave {_thing(r)} in {r.choice(PLACES)}?",
    lambda r: f"in {spell_number(r.randint(1900, 2030))} {_np(r)} {r.choice(VERBS_T)} {_thing(r)}.",
    lambda r: f"{_np(r)} said that {_np(r)} {r.choice(VERBS_I)} {r.choice(ADVERBS)}.",
    lambda r: f"please put {_thing(r)} on the {r.choice(THINGS)}.",
    lambda r: f"it costs {spell_number(r.randint(2, 500))} dollars and {spell_number(r.randint(1, 99))} cents.",
    lambda r: f"{_np(r)} was {r.choice(ADJ)} because {_np(r)} {r.choice(VERBS_I)} {r.choice(TIMES)}.",
)


def generate(n: int, *, seed: int = 0) -> list[str]:
    """``n`` distinct sentences, deterministic for a seed."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        s = rng.choice(TEMPLATES)(rng)
        s = " ".join(s.split())
        s = s[0].upper() + s[1:]
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
