"""The gauge that decides whether an unseen thread's history is queried alongside its read."""

from common.chat.access import SpeculationGauge


def test_speculates_until_first_turns_dominate_then_again_when_later_turns_do():
    gauge = SpeculationGauge()
    assert gauge.speculate()  # no evidence yet: spend the query, save the wall time
    gauge.observe(False)  # a first turn: there was nothing to query
    assert not gauge.speculate()
    for _ in range(20):
        gauge.observe(False)
    assert not gauge.speculate()
    turns = 0
    while not gauge.speculate():  # conversations now spread over instances
        gauge.observe(True)
        turns += 1
    assert 5 <= turns <= 30  # follows a change of traffic within tens of turns, not one
    for _ in range(30):
        gauge.observe(True)
    for _ in range(3):
        gauge.observe(False)  # a few first turns among many later ones do not flip it
    assert gauge.speculate()
