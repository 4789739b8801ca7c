"""Notebook 11's code exercise: a consumer whose handler is slower than `max.poll.interval.ms` and that still keeps
its place in the group — the work in another thread, the partitions paused, `poll()` called meanwhile.

The check runs the learner's `consume(config, topic, process)` in a process of its own (`learner_process`) with
`max.poll.interval.ms` at 3 s, on a fresh topic of 20 records in 2 partitions; `process()` takes 6 s over the 5th
record it is given. librdkafka writes a `MAXPOLL` warning to the process's standard error when the application
has not polled in time and it leaves the group: the check reads it there, and counts what was processed.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition

from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.learner_process import function_source, processed_values, run_until
from labkit.exercises.scratch import group_config, scratch_name, scratch_topic, write_numbered

if TYPE_CHECKING:
    from labkit.lab import Lab

RECORDS, PARTITIONS, SLOW_AT, SLOW_S, MAX_POLL_MS = 20, 2, 5, 6.0, 3000
RUN_TIMEOUT = 60.0  # s for every record to be processed (a group to join, the 6-s record)


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function consume(config, topic, process), got {type(answer).__name__}")
    source = function_source(answer)
    if '"max.poll.interval.ms"' in source or "'max.poll.interval.ms'" in source:  # a setting, not a comment
        return wrong(
            "leave max.poll.interval.ms as config sets it: raising it is the first fix of the notebook; this "
            "exercise asks for the second, a consumer that keeps polling while process() works"
        )
    topic, group = scratch_name(event_id, "slow")
    config = group_config(lab, group, **{"max.poll.interval.ms": MAX_POLL_MS})
    with scratch_topic(lab, topic, PARTITIONS), tempfile.TemporaryDirectory(prefix="labkit-exercise-") as folder:
        work = Path(folder)
        write_numbered(lab, topic, RECORDS, PARTITIONS)

        def finished() -> bool:
            return len(set(processed_values(work))) >= RECORDS

        ran = run_until(answer, [config, topic], work, "run", finished, RUN_TIMEOUT, slow=(SLOW_AT, SLOW_S))
        return _verdict(processed_values(work), ran.stderr, ran.failure("your function"))


def _verdict(done: list[str], stderr: str, raised: str) -> Verdict:
    maxpoll = next((line for line in stderr.splitlines() if "MAXPOLL" in line), "")
    counts = Counter(done)
    if maxpoll:
        then = f" Then {raised}" if raised else ""
        return wrong(
            f"your consumer did not call poll() for {MAX_POLL_MS / 1000:.0f} s while process() worked, and "
            f"librdkafka took it out of the group: {maxpoll.split(']: ', 1)[-1]}. Run process() in another thread, "
            "pause() the assigned partitions while it runs, and keep calling poll() (paused partitions return "
            f"nothing); resume() them when it is done.{then}"
        )
    if raised:
        return wrong(raised)
    if missing := sorted(int(v) for v in {str(i) for i in range(RECORDS)} - set(counts)):
        return wrong(f"records {missing[:8]} were never processed (in {RUN_TIMEOUT:.0f} s)")
    if twice := sorted(int(v) for v, n in counts.items() if n > 1):
        return wrong(f"records {twice[:8]} were processed twice: a record returned by poll() while another was in work")
    return correct(
        f"all {RECORDS} records processed once, the slow one ({SLOW_S:.0f} s, twice max.poll.interval.ms) included, "
        "and the consumer never left the group: it kept polling while the work ran."
    )


def _reference(config: dict[str, Any], topic: str, process: Callable[[Any], None]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    consumer = Consumer({**config, "enable.auto.commit": False})
    consumer.subscribe([topic])
    worker = ThreadPoolExecutor(max_workers=1)
    try:
        while True:
            message: Any = consumer.poll(1.0)
            if message is None or message.error():
                continue
            paused = consumer.assignment()
            consumer.pause(paused)  # no records while the work runs; poll() still keeps the member in the group
            job = worker.submit(process, message)
            while not job.done():
                other: Any = consumer.poll(0.2)  # counts as polling for max.poll.interval.ms; runs the callbacks
                if other is not None and not other.error():  # from a partition assigned meanwhile, not paused:
                    consumer.seek(TopicPartition(other.topic(), other.partition(), other.offset()))  # read it later
            job.result()
            consumer.resume(paused)
            consumer.commit(message=message, asynchronous=False)
    finally:
        worker.shutdown()
        consumer.close()


slow_handler = Exercise(
    key="11.slow_handler",
    notebook="11_a_clients_life",
    title="a handler slower than max.poll.interval.ms, and a consumer that stays in its group",
    statement=(
        "Write `consume(config, topic, process)`: a Consumer built from `config` (it names the group, and sets "
        f"max.poll.interval.ms to {MAX_POLL_MS} ms), subscribed to `topic`, polling for ever and calling "
        "`process(message)` for each record, once each — where process() may take longer than "
        f"max.poll.interval.ms. The check runs your function in a process of its own on {RECORDS} records; the "
        f"{SLOW_AT}th takes {SLOW_S:.0f} s. It fails if librdkafka took your consumer out of the group. Leave "
        "max.poll.interval.ms as it is. Your function runs in a fresh Python: Consumer, TopicPartition, KafkaError, "
        "json and time are given; import anything else inside it."
    ),
    hints=(
        "while process() runs, poll() must still be called at least every max.poll.interval.ms",
        "run process(message) in another thread (concurrent.futures.ThreadPoolExecutor) and poll while it runs",
        "consumer.pause(consumer.assignment()) first, so that those polls return no records; resume() after, then "
        "commit",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (slow_handler,)
