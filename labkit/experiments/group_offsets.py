"""A group's offsets as labkit reads them and as Kafka's `kafka-consumer-groups` prints them (notebook 08).

`group_offsets` asks the brokers for a group's committed offsets and the partitions' log-end offsets;
`parse_group_table` reads the table that `kafka-consumer-groups --describe` or `--reset-offsets` prints, so that
a notebook can assert that both say the same.
"""

from __future__ import annotations

import pandas as pd

from labkit.errors import ClusterError
from labkit.experiments.reading import log_ranges
from labkit.kafka.admin import Admin
from labkit.kafka.groups import describe_group

NUMERIC = ("PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "NEW-OFFSET")


def group_offsets(bootstrap_servers: str, group_id: str, topic: str) -> pd.DataFrame:
    """partition, committed (None if never), log_end, lag — one row per partition of `topic`. Lag is the log-end
    offset minus the committed offset (Kafka's LAG column; None where nothing was committed)."""
    with Admin(bootstrap_servers) as admin:
        group = describe_group(admin, group_id)
    committed = {p.partition: p.committed for p in group.partitions if p.topic == topic}
    rows = []
    for p, log in sorted(log_ranges(bootstrap_servers, topic).items()):  # every partition, committed or not
        done = committed.get(p)
        rows.append((p, done, log.end, None if done is None else log.end - done))
    frame = pd.DataFrame(rows, columns=["partition", "committed", "log_end", "lag"])
    return frame.astype({"committed": "Int64", "lag": "Int64"})


def parse_group_table(text: str) -> pd.DataFrame:
    """The table in `kafka-consumer-groups` output (the header line starting with GROUP, then one row a
    partition), with Kafka's column names; '-' becomes None, offsets and lag integers (pandas Int64)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    start = next((i for i, words in enumerate(lines) if words[0] == "GROUP"), None)
    if start is None:
        raise ClusterError(f"no table (a header line starting with GROUP) in: {text[:300]!r}")
    header = lines[start]
    rows = [words for words in lines[start + 1 :] if len(words) == len(header)]
    frame = pd.DataFrame([[None if w == "-" else w for w in row] for row in rows], columns=header)
    for column in NUMERIC:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame.sort_values(["TOPIC", "PARTITION"]).reset_index(drop=True)
