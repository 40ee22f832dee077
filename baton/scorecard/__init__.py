"""The scorecard: per-scope KPIs summed from per-account contributions (docs/scorecard.md).

Pure: no Kafka, no Faust. The stream worker keeps a ``Scorecard`` and feeds it
account-state changes and spend records; ``replay`` computes the same records
offline from the events.
"""

from baton.scorecard.contribution import account_contribution, spend_contribution
from baton.scorecard.partial import Partial
from baton.scorecard.scorecard import Scorecard, combine, finalize_all, replay

__all__ = [
    "Partial",
    "Scorecard",
    "account_contribution",
    "combine",
    "finalize_all",
    "replay",
    "spend_contribution",
]
