"""The API version ranges Millrace advertises, taken from a real Apache Kafka 4.1 broker.

Clients choose features from these ranges (kafka-python even infers the broker release
from them: Produce v13 means 4.1), so they must match a real release rather than what
kio can parse. Only implemented keys are advertised; a key is implemented when the
dispatcher registers a handler for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Apache Kafka 4.1's ApiVersionsResponse for the broker listener (API key -> min, max).
KAFKA_41_RANGES: Mapping[int, tuple[int, int]] = {
    0: (0, 13),
    1: (4, 18),
    2: (1, 10),
    3: (0, 13),
    8: (2, 9),
    9: (1, 9),
    10: (0, 6),
    11: (0, 9),
    12: (0, 4),
    13: (0, 5),
    14: (0, 5),
    15: (0, 6),
    16: (0, 5),
    17: (0, 1),
    18: (0, 4),
    19: (2, 7),
    20: (1, 6),
    21: (0, 2),
    22: (0, 5),
    23: (2, 4),
    24: (0, 5),
    25: (0, 4),
    26: (0, 5),
    27: (1, 1),
    28: (0, 5),
    29: (1, 3),
    30: (1, 3),
    31: (1, 3),
    32: (1, 4),
    33: (0, 2),
    34: (1, 2),
    35: (1, 4),
    36: (0, 2),
    37: (0, 3),
    38: (1, 3),
    39: (1, 2),
    40: (1, 2),
    41: (1, 3),
    42: (0, 2),
    43: (0, 2),
    44: (0, 1),
    45: (0, 1),
    46: (0, 0),
    47: (0, 0),
    48: (0, 1),
    49: (0, 1),
    50: (0, 0),
    51: (0, 0),
    55: (0, 2),
    57: (0, 2),
    60: (0, 2),
    61: (0, 0),
    64: (0, 0),
    65: (0, 0),
    66: (0, 2),
    68: (0, 1),
    69: (0, 1),
    74: (0, 1),
    75: (0, 0),
    80: (0, 0),
    81: (0, 0),
}

# APIs only controllers serve (Kafka 4.1's controller listener ranges).
CONTROLLER_ONLY_RANGES: Mapping[int, tuple[int, int]] = {
    56: (2, 3),
    58: (0, 0),  # Envelope: requests brokers forward for their clients
    62: (0, 4),
    63: (0, 1),
    67: (0, 0),
    82: (0, 0),
}

# Versions Kafka 4 still advertises but no longer serves (KIP-896 removed them; the
# ranges keep old minimums so that old librdkafka builds still connect). A request at
# one of these versions gets UNSUPPORTED_VERSION, exactly as from Kafka 4.
REMOVED_MINIMUMS: Mapping[int, int] = {0: 3}


def advertised_ranges(implemented: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Kafka 4.1's range for every implemented key, in key order."""
    return {key: KAFKA_41_RANGES[key] for key in sorted(implemented) if key in KAFKA_41_RANGES}


def is_served(api_key: int, version: int) -> bool:
    """Whether a request at this version is served rather than refused."""
    low, high = KAFKA_41_RANGES.get(api_key) or CONTROLLER_ONLY_RANGES.get(api_key, (0, -1))
    return max(low, REMOVED_MINIMUMS.get(api_key, low)) <= version <= high
