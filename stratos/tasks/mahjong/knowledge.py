"""The rules of the wait puzzle as text a model can be given (knowledge injection)."""

from __future__ import annotations

from stratos.tasks.mahjong.solver import STANDARD, Rules

_CORE = """\
Mahjong wait puzzles: the rules.

Tiles. There are 34 kinds of tile, 4 copies of each (136 tiles). Three numbered suits run 1-9:
characters (1m-9m), dots (1p-9p) and bamboo (1s-9s). Honours have no numbers to run:
winds 1z-4z (east, south, west, north) and dragons 5z-7z (white, green, red).
A hand is written compactly by suit: 123m456p789s1122z means 1m 2m 3m 4p 5p 6p 7s 8s 9s 1z 1z 2z 2z.

Melds and pairs. A meld is three tiles: a triplet (three identical tiles, e.g. 5p 5p 5p or 7z 7z 7z)
or a run (three consecutive numbers in ONE suit, e.g. 3s 4s 5s). Runs never wrap (8m 9m 1m is not a run),
never mix suits, and honours never form runs. A pair is two identical tiles.

Winning hand. A complete hand has 14 tiles: exactly 4 melds and 1 pair, every tile used once.

Waits. A 13-tile hand is ready (tenpai) when some tile would complete it. Its waits are ALL
the tile kinds that complete it, not only one. A tile kind the hand already holds 4 copies of can never be
drawn, so it is never a wait. A hand with no waits is not ready.

Wait shapes (what is left when 4 melds + pair are almost done):
- two-sided run (ryanmen): 4m 5m waits on 3m and 6m;
- edge run (penchan): 1p 2p waits on 3p, 8p 9p waits on 7p;
- closed run (kanchan): 4s 6s waits on 5s;
- two pairs (shanpon): 2m 2m + 7z 7z waits on 2m and 7z (one becomes the triplet, the other the pair);
- single wait (tanki): four melds and one lone tile wait on that tile to pair it.
Shapes overlap: 2345m waits on 2m and 5m (pair either end); 1112m waits on 2m and 3m; the nine-gates
shape 1112345678999m waits on all nine characters. Check every way of splitting the hand.

How to solve it step by step. Melds never cross suits, so look at each suit alone and count its tiles:
a suit with a multiple of 3 tiles must split into melds only; one with 2 more than a multiple of 3 must
split into melds plus the single pair; one with 1 more than a multiple of 3 must take the drawn tile.
Exactly one suit holds the pair in the finished hand. Then try each tile that could matter (a number
within 2 of a tile held in that suit, or an honour already held) and keep those that make the suit split.
To test a split, take the lowest tile: if 3 or more are held, remove a triplet; any copies left must start
runs with the next two numbers. In the suit that holds the pair only some pairs need trying: melds add
multiples of 3 to the sum of the suit's numbers (with the drawn tile), so the pair's number p has
2p = that sum (mod 3).
The answer is the sorted list of waits, e.g. "Answer: 1m 4m", or "Answer: none" when the hand is not ready.
"""

_SEVEN_PAIRS = """
Seven pairs (extra rule in force): 14 tiles forming seven DIFFERENT pairs also win. A 13-tile hand with six
different pairs and one single waits on that single (in addition to any standard waits).
"""

_ORPHANS = """
Thirteen orphans (extra rule in force): one each of the 13 terminal and honour kinds (1m 9m 1p 9p 1s 9s
1z-7z) plus one more of any of them wins. Holding all 13 kinds once waits on all 13; holding 12 kinds with
one doubled waits on the missing kind.
"""


def knowledge(rules: Rules = STANDARD) -> str:
    """The rules text, with the extra winning forms when ``rules`` enables them."""
    text = _CORE
    if rules.seven_pairs:
        text += _SEVEN_PAIRS
    if rules.thirteen_orphans:
        text += _ORPHANS
    return text
