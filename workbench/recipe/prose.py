"""A second held-out set: everyday English prose in the four held-out voices (``datasets/kokoro-prose``).

The sentences below were written by hand for this set; no generator of the recipe makes them
(the broad data's word sequences are random draws and its grammar sentences come from
:mod:`.sentences`), so the set measures general-vocabulary recognition, not memory.  Numbers
are spelled out so that the reference maps onto the wav2vec2-base-960h alphabet.
"""
from __future__ import annotations

import random
from pathlib import Path

PROSE = (
    "I left my umbrella on the bus this morning, so I got soaked on the way to work.",
    "Could you pass me the salt and pepper, please?",
    "The meeting has been moved to Thursday afternoon because half the team is away.",
    "She has been learning to play the piano for almost three years now.",
    "We should probably leave early if we want to avoid the traffic.",
    "My grandmother grows tomatoes, beans and potatoes in her back yard.",
    "The weather forecast says it will rain all weekend.",
    "He forgot his password again and had to call the help desk.",
    "There is a small bakery around the corner that sells fresh bread every morning.",
    "Please remember to turn off the lights when you leave the room.",
    "The children spent the whole afternoon building a castle out of cardboard boxes.",
    "I have never understood why people enjoy waiting in line for hours.",
    "Our flight was delayed by two hours, so we had dinner at the airport.",
    "The doctor told him to drink more water and get plenty of sleep.",
    "If you need anything at all, just send me a message.",
    "The library will be closed on Monday for the public holiday.",
    "They painted the kitchen a pale shade of yellow last summer.",
    "Nobody noticed that the clock on the wall had stopped.",
    "I usually take the stairs instead of the elevator to get some exercise.",
    "The new neighbours seem friendly, but their dog barks all night.",
    "She wrote a long letter to her brother who lives overseas.",
    "Can you tell me how to get to the nearest train station?",
    "The price of coffee has gone up again this month.",
    "We watched the sunset from the top of the hill and walked home in the dark.",
    "My phone battery always dies at the worst possible moment.",
    "The teacher asked the students to hand in their essays by Friday.",
    "He spilled orange juice all over his shirt during breakfast.",
    "It took us nearly an hour to find a parking space downtown.",
    "The museum has a wonderful collection of old maps and photographs.",
    "I think I will stay in tonight and read a good book.",
    "The river flooded after the storm and closed the main road for a week.",
    "Would you like to join us for lunch tomorrow?",
    "She keeps all her important papers in a blue folder on the shelf.",
    "The company hired twenty new workers to keep up with demand.",
    "After the concert we could barely hear each other talk.",
    "He promised to fix the leaking tap before the end of the week.",
    "The garden looks beautiful in spring when the cherry trees are in bloom.",
    "Don't forget to bring a warm jacket because it gets cold at night.",
    "Most of the shops in the village close early on Sundays.",
    "The soup needs a little more salt, but otherwise it tastes great.",
)


def make_prose_set(out_dir: Path | None = None, *, seed: int = 11, registry=None, progress: bool = False) -> Path:
    """Synthesize :data:`PROSE` into ``out_dir`` (default ``datasets/kokoro-prose``), resumably.

    Made exactly as ``datasets/kokoro-eval`` was (:func:`.data.synthesize_set`: seeded voices
    from the held-out ``EVAL_VOICES``, speeds 0.85-1.15, the same manifest format).
    """
    from .data import EVAL_VOICES, synthesize_set

    out = Path(out_dir) if out_dir else Path(__file__).resolve().parents[2] / "datasets" / "kokoro-prose"
    order = list(range(len(PROSE)))
    random.Random(seed).shuffle(order)
    return synthesize_set(out, [PROSE[i] for i in order], EVAL_VOICES, seed=seed, prefix="prose",
                          registry=registry, progress=progress)
