"""All settings in one place: environment variables with the ``SMSFLOW_`` prefix.

Settings are grouped by component (:data:`SETTING_GROUPS`, the order of :class:`Settings`,
which marks each group with a ``# --- group <name>`` comment); a group's new settings start
with its prefix where it has one (``worker_``, ``sink_``, ``alert_``, ...). Tuning values are
settings too (:data:`TUNING`), each description giving the measured reason for its default.

Load once at the entry point with :func:`load_settings` and pass the object down; nothing
deep inside reads the environment. ``KAFKA_BOOTSTRAP_SERVERS`` (no prefix) is honoured too,
as the common convention for pointing tools at an existing broker.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smsflow.input_kinds import INPUT_KINDS

__all__ = ["SETTING_GROUPS", "TUNING", "AlertRules", "Settings", "TopicNames", "load_settings",
           "setting_default"]


class AlertRules(BaseModel):
    """Alert thresholds (issue 19), read from the TOML file ``alerts_file`` (top-level keys
    named as these fields; a missing key keeps its default). ``infra/alerts.toml`` lists every
    key with its default. Rules run over event time (:mod:`sinks.alerts`), at instants
    ``interval_s`` apart, on the window of ``window_s`` seconds ending at the instant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_s: int = Field(default=900, ge=60, le=86400,
                            description="Seconds of event time between two evaluations.")
    window_s: int = Field(default=1800, ge=60, le=86400,
                          description="Window of the delivery, error and latency rules.")
    for_s: int = Field(default=0, ge=0, description="A true condition is pending this long "
                       "before it fires (0: fires at the first evaluation that sees it).")
    delivery_drop: Decimal = Field(
        default=Decimal("0.25"), gt=0, lt=1, description="Delivery rate of an operator or "
        "country below (1 - this) x its rate in the same window of the previous 7 days.")
    delivery_min_volume: int = Field(
        default=100, ge=1, description="Messages needed in the window and in the baseline.")
    latency_p95_s: Decimal = Field(
        default=Decimal(180), gt=0,
        description="Submit->delivered p95 (nearest rank) of an operator's window messages "
        "delivered by its end above this.")
    latency_min_samples: int = Field(default=50, ge=1, description="Delivered messages needed.")
    pending_share: Decimal = Field(
        default=Decimal(30), gt=0, le=100, description="Percent of an operator's messages "
        "submitted 1 h ago or more (in the window before that) still without a final receipt.")
    pending_min_volume: int = Field(default=100, ge=1, description="Messages needed.")
    error_jump: Decimal = Field(
        default=Decimal(10), gt=0, le=100, description="Percentage points an error code's "
        "share of an operator's messages rose above its share in the previous 7 days.")
    error_min_count: int = Field(default=20, ge=1, description="Messages with the code needed.")
    dead_letters_per_min: Decimal = Field(
        default=Decimal(10), gt=0,
        description="Dead letters per minute over dead_letters_window_s.",
    )
    dead_letters_window_s: int = Field(default=300, ge=60, le=3600,
                                       description="Window of the dead-letter rule.")


class TopicNames:
    """Names of every Kafka topic smsflow uses, derived from one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def requests(self) -> str:
        """Send requests with the platform's QUEUED/REJECTED answer (input)."""
        return self._t("send-requests")

    @property
    def receipts(self) -> str:
        """Delivery receipts (input)."""
        return self._t("delivery-receipts")

    @property
    def inbound(self) -> str:
        """Inbound MO messages (input)."""
        return self._t("inbound-messages")

    @property
    def surveys(self) -> str:
        """SMS Engage survey responses (input)."""
        return self._t("survey-responses")

    @property
    def otp_feedback(self) -> str:
        """OTP-conversion feedback (input)."""
        return self._t("otp-feedback")

    @property
    def clicks(self) -> str:
        """Short-URL clicks (input)."""
        return self._t("url-clicks")

    @property
    def message_state(self) -> str:
        """Latest joined record per umid (derived, compacted)."""
        return self._t("message-state")

    @property
    def dead_letter(self) -> str:
        """Invalid events with the reason (never lost)."""
        return self._t("dead-letter")

    @property
    def control(self) -> str:
        """The worker's control events (reply status, orphan marks), keyed by umid (internal)."""
        return self._t("streams-control")

    @property
    def pairs(self) -> str:
        """Requests and MOs keyed by (handset, sender) pair for reply matching (internal)."""
        return self._t("streams-reply-pairs")

    @property
    def pairs_changelog(self) -> str:
        """Changelog of the worker's ``pairs`` table (internal, compacted)."""
        return self._t("streams-pairs-changelog")

    @property
    def clicks_changelog(self) -> str:
        """Changelog of the worker's click-identity table (internal, compacted)."""
        return self._t("streams-clicks-changelog")

    def inputs(self) -> list[str]:
        return [k.topic(self) for k in INPUT_KINDS]

    def worker_owned(self) -> list[str]:
        """Every topic the worker's consumer group reads and commits: inputs, control, pairs."""
        return [*self.inputs(), self.control, self.pairs]

    def worker_internal(self) -> list[str]:
        """The worker's own topics, created before it starts: a topic Faust creates itself at
        start is missing from the first assignment's metadata and breaks the table."""
        return [self.control, self.pairs, self.pairs_changelog, self.clicks_changelog]

    def derived(self) -> list[str]:
        return [self.message_state]

    def all(self) -> list[str]:
        return [*self.inputs(), *self.derived(), self.dead_letter]

    def compacted(self) -> set[str]:
        """Topics that are changelogs/state (cleanup.policy=compact)."""
        return {self.message_state}


class Settings(BaseSettings):
    """smsflow settings. Every field maps to ``SMSFLOW_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="SMSFLOW_", frozen=True, extra="ignore")

    # --- group home: where local state lives --------------------------------------------------
    home: Path = Field(
        default=Path(".smsflow"),
        description="Working directory for local state: broker data, chDB data, pids, logs.",
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "smsflow",
        description="Cache outside git for the Kafka broker jars fetched with Maven.",
    )

    # --- group kafka: brokers, topics, client security (infra/, every client) -----------------
    bootstrap_servers: str = Field(
        default="",
        description="Kafka bootstrap servers; empty means the local broker on kafka_port.",
    )
    kafka_version: str = Field(default="3.9.2", description="Apache Kafka broker version.")
    kafka_port: int = Field(default=9092, description="Local broker client port.")
    kafka_controller_port: int = Field(default=9093, description="Local KRaft controller port.")
    kafka_heap: str = Field(default="1g", description="Local broker JVM heap (-Xmx).")
    kafka_jvm_options: str = Field(
        default="-XX:TieredStopAtLevel=1", description="Local broker: further JVM options "
        "(split like a shell). The default compiles with C1 only: a fresh broker's C2 "
        "compiler threads took 0.2-0.55 of a core through a whole benchmark on 2 cores. "
        "Measured (bench all --messages 20000 --latency-rate 1000, interleaved C1 C2 C1 C2, "
        "2026-12-02): broker CPU in the throughput run 5.2 / 4.9 -> 8.9 / 11.4 s with C2, "
        "request -> row p99 671 / 675 -> 1,145 / 1,721 ms, end to end 2,853 / 3,110 -> "
        "2,851 / 2,229 events/s. Empty: the JVM's defaults.",
    )
    topic_prefix: str = Field(default="sms.", description="Prefix of every topic name.")
    partitions: int = Field(default=6, ge=1, description="Partitions per topic.")
    kafka_profile: Literal["local", "production"] = Field(
        default="local",
        description="Topic defaults: local (RF 1, min ISR 1) or production (RF 3, min ISR 2); "
        "every producer writes with acks=all either way.",
    )
    replication_factor: int | None = Field(
        default=None, ge=1, description="Replicas per topic; default from kafka_profile."
    )
    min_insync_replicas: int | None = Field(
        default=None, ge=1, description="Topic min.insync.replicas; default from kafka_profile."
    )
    kafka_brokers: int = Field(
        default=1, ge=1, le=9, description="Local brokers (`infra up --brokers`): client ports "
        "kafka_port.., controller ports kafka_controller_port.. (shifted past the client ports "
        "when they would overlap).",
    )
    dead_letter_retention_ms: int = Field(
        default=14 * 24 * 3600 * 1000, description="Retention of the dead-letter topic."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka client security protocol."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism (with SASL_PLAINTEXT / SASL_SSL)."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_sasl_password_file: Path | None = Field(
        default=None, description="File holding the SASL password (read when unset)."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle (PEM) that signed the broker certificate."
    )
    kafka_ssl_certfile: Path | None = Field(default=None, description="Client certificate (PEM).")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="Client private key (PEM).")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of the client private key."
    )
    kafka_ssl_key_password_file: Path | None = Field(
        default=None, description="File holding the client key password."
    )
    kafka_sasl_scram: bool = Field(
        default=False,
        description="Local broker: add a SASL_PLAINTEXT SCRAM-SHA-512 listener on kafka_sasl_port.",
    )
    kafka_sasl_port: int = Field(default=9094, description="Local broker SASL listener port.")
    schema_registry_url: str | None = Field(
        default=None,
        description="Confluent schema registry; unset means single-object Avro encoding.",
    )

    # --- group worker: the stream worker (streams/): joins, retention, alignment, consumer ---
    worker_store: Literal["memory", "rocksdb"] = Field(
        default="memory",
        description="Faust table store: memory (replays the changelog at start) or rocksdb.",
    )
    worker_web_port: int = Field(
        default=6066, description="Faust worker web port (worker i of `run --workers`: +i)."
    )
    reply_window_seconds: int = Field(
        default=24 * 3600, ge=0, description="An MO within this time after an outbound replies."
    )
    orphan_ttl_seconds: int = Field(
        default=48 * 3600, ge=0, description="Stream time a receipt waits for its request."
    )
    orphan_resend_seconds: float = Field(
        default=600.0, gt=0, description="An orphan control event is sent again only if its "
        "receipt is still held this many seconds (wall time) after: an acknowledged one is "
        "read in its turn, so a re-send only covers a lost one. Measured: at 30 s a backlog "
        "amplified itself (1M-message bench: 80k receipts held behind their requests, their "
        "orphan events re-sent every 30 s, the control topic grew to 1.56M records); 600 "
        "itself was not measured further.",
    )
    state_retention_hours: float = Field(
        default=14 * 24, ge=0, description="The worker forgets a message's state (and drops it "
        "from the state topic) once its last event is this much stream time old; an event "
        "after that starts a new state. Must exceed the longest gap between two events of one "
        "message (scheduled sends wait up to 7 days); 0 = keep every state forever.",
    )
    state_retention_grace_seconds: float = Field(
        default=120, ge=0, description="Retention judges ages by the event-time watermark "
        "as it was this many seconds of wall time ago (replies come back seconds after their "
        "MO while a backlog moves event time by days).",
    )
    alignment_seconds: float = Field(
        default=3600, ge=0, description="Working through a backlog, the worker pauses reading "
        "an input partition that is this much event time ahead of the slowest one with unread "
        "records (receipts wait less for their requests, retention keeps forgetting); "
        "0 = read every partition as fast as Faust serves it.",
    )
    alignment_min_backlog: int = Field(
        default=1000, ge=0, description="Alignment pauses other partitions only while the "
        "slowest one holds at least this many unread records (a backlog, ~0.5 s of the "
        "worker's work). Measured: without it a benchmark playing days of traffic in seconds "
        "paused partitions 49 times in a 23 s latency run (1M soak), each pause costing a "
        "re-fetch and a second of waiting; at a steady rate nothing pauses.",
    )
    alignment_stall_seconds: float = Field(
        default=30.0, gt=0, description="Alignment's stall guard: a watermark that has not "
        "moved for this many seconds while partitions are paused resumes them all and pauses "
        "nothing until it moves (Kafka Streams' max.task.idle idea), so waiting never stops "
        "the worker. The value was not measured.",
    )
    worker_fetch_min_bytes: int = Field(
        default=64 * 1024, ge=1, le=64 * 1024 * 1024, description="Worker consumer: a fetch "
        "waits for this many bytes (or worker_fetch_max_wait_ms); Faust's own is 1, so at a "
        "steady rate every fetch carried a few records. Measured (bench all --messages 20000, "
        "two interleaved pairs, with 50 ms): p99 request->row 2,722 / 2,757 -> 1,347 / 1,975 "
        "ms, the worker's share p50 657 / 605 -> 72 / 207 ms.",
    )
    worker_fetch_max_wait_ms: int = Field(
        default=50, ge=0, le=30_000, description="Worker consumer: longest wait (ms) of a "
        "fetch for worker_fetch_min_bytes; measured together with it (see there).",
    )
    worker_max_poll_records: int = Field(
        default=5000, ge=1, description="Worker consumer: most records per poll (Faust's "
        "broker_max_poll_records). Measured (bench.streams --messages 20000, worker alone, 2 "
        "cores): 500 -> 5000 with producer linger 20 -> 50 ms and a 32k stream buffer took the "
        "worker from 2,424 to 2,986 events/s (398 -> 333 CPU us/event).",
    )
    worker_queue_batches: int = Field(
        default=8, ge=1, description="Worker: fetched batches (one partition's records of one "
        "fetch) queued between Faust's fetch loop and the batch processor; the fetch loop "
        "waits while it is full. The value was not measured.",
    )
    worker_coalesce_batches: int = Field(
        default=16, ge=1, description="Worker: queued batches processed together, their "
        "outputs sent as one set of producer batches. Measured with closed producer batches "
        "(bench.streams --messages 20000): 5,093 / 5,523 -> 7,171 events/s, 96 -> 80 CPU "
        "us/event; the value 16 itself was not measured against others.",
    )
    worker_send_ahead: int = Field(
        default=2, ge=1, description="Worker: processed sets of batches whose outputs may wait "
        "for the producer while processing goes on (sent in order). Introduced with "
        "worker_coalesce_batches (measured together, see there); the value was not measured.",
    )
    worker_produce_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Worker: how long a record it writes may wait for "
        "the broker's acknowledgement, retries included, before the worker stops without "
        "committing (`run` restarts it; the events are processed again). Faust's default is "
        "20 minutes, during which a worker whose write never completed looked alive and did "
        "nothing. Kafka's own default delivery timeout is 120 s.",
    )
    worker_gc_young_allocations: int = Field(
        default=50_000, ge=1, description="Worker: allocations before a young-generation "
        "garbage collection (gc.set_threshold's first value, after gc.freeze() at start; the "
        "others stay 20, 100). Measured (bench.streams --messages 20000, quiet machine, "
        "interleaved): 8,754-11,321 -> 11,251-13,545 events/s, 61-73 -> 55-61 CPU us/event; "
        "Python's default is 700.",
    )

    # --- group sink: the ClickHouse sink (sinks/): batches, its consumer, the daily roll-up ---
    sink_batch_size: int = Field(
        default=10_000, ge=1, description="Sink: most Kafka records per ClickHouse insert batch."
    )
    sink_batch_ms: int = Field(
        default=500, ge=1, description="Sink: longest wait (ms) before flushing a partial "
        "batch. Measured (bench all at 700 events/s, 2026-11-27): 500 instead of 1,000 took "
        "request -> row p99 from 2,263 to 1,318 ms, end-to-end throughput within the noise.",
    )
    sink_state_batch_ms: int = Field(
        default=400, ge=1, description="Sink: longest wait (ms) before flushing a partial "
        "batch of the message-state lane (messages, daily_deltas, roll-ups); sink_batch_ms "
        "is the events lane's. Each flush pays a fixed ClickHouse cost (inserts, their "
        "merges, the roll-up update). Measured (bench all --messages 20000 --latency-rate "
        "3000 --latency-messages 10000, interleaved, 2026-12-03): request -> row p99 2,105 / "
        "1,977 ms with 200, 990 / 1,024 ms with 400, CPU 553 / 559 -> 528 / 506 us per paced "
        "event. At 1,000 events/s (2026-12-02, 200 against 500) the longer wait cost ~200 ms "
        "of p50 and no p99.",
    )
    sink_flushes_in_flight: int = Field(
        default=1, ge=1, le=4, description="Sink: flushes in flight per lane, each on a "
        "ClickHouse connection of its own. With 2, a batch's inserts start while the previous "
        "batch's roll-up update and commit still run (its messages rows after the previous "
        "batch's); updates and commits stay in batch order. Measured (bench all --messages "
        "20000, 2026-12-03, interleaved): before the messages rows kept their order, p99 "
        "request -> row 1,033 / 1,052 / 1,333 / 1,505 ms with 2 against 1,091 / 1,696 with 1; "
        "with that order (exact), one round at 4-14% steal: p99 3,147 / 2,243 ms at 1,390 / "
        "1,518 events/s with 2 against 1,687 / 1,854 at 965 / 1,348 before the change: no "
        "gain shown, so 1 (README, Performance).",
    )
    sink_fetch_min_bytes: int = Field(
        default=128 * 1024, ge=1, le=64 * 1024 * 1024, description="Sink consumer: a fetch "
        "waits for this many bytes (or sink_fetch_max_wait_ms) instead of returning every few "
        "records. Measured (bench all, 2026-11-27, with 100 ms): sink 15.6 -> 14.7 CPU s, the "
        "broker ~20 -> ~11 CPU s, end to end 1,633 -> 1,790 events/s; at most 100 ms more "
        "latency.",
    )
    sink_fetch_max_wait_ms: int = Field(
        default=100, ge=0, le=30_000, description="Sink consumer: longest wait (ms) of a fetch "
        "for sink_fetch_min_bytes; measured together with it (see there).",
    )
    rollup_open_days: int = Field(
        default=2, ge=0,
        description="Sink: the newest N days stay open (read from the source); older days are"
        " rolled up (daily_rollup and the report layout's roll-ups, sinks/README.md).",
    )
    rollup_open_hours: int = Field(
        default=2, ge=0, le=48,
        description="Sink: within the open days, the newest N hours (of the request times) stay"
        " open; older hours are rolled up per hour (sinks/README.md, sealed hours).",
    )
    rollup_settle_seconds: float = Field(
        default=10.0, ge=0,
        description="Sink: closed days and sealed hours that got late rows are read from the"
        " source and recomputed into the roll-ups together at most this often, and 9 times"
        " the last recompute's duration after it (in a thread beside the flushes, and at the"
        " sink's stop). Days that close and hours that seal are computed in that thread too,"
        " when next allowed (the flush only decides them).",
    )

    # --- group clickhouse: a server or embedded chDB ------------------------------------------
    clickhouse_url: str | None = Field(
        default=None,
        description="ClickHouse server URL (http[s]://user:pass@host:port/db); unset means chDB.",
    )
    clickhouse_path: Path | None = Field(
        default=None, description="chDB data directory; default <home>/clickhouse."
    )
    clickhouse_database: str = Field(default="smsflow", description="ClickHouse database.")
    clickhouse_cluster: str | None = Field(
        default=None, description="ClickHouse cluster name: migrations run ON CLUSTER with "
        "Replicated* engines and Distributed tables sharded by umid; unset = one node.",
    )
    clickhouse_password: SecretStr | None = Field(
        default=None, description="ClickHouse password when not given in the URL."
    )
    clickhouse_merge_nice: int = Field(
        default=10, ge=0, le=19, description="chDB: the Linux nice value of its background "
        "merges (ClickHouse's os_threads_nice_value_merge_mutate, set while a merge runs), so "
        "that on busy cores the sink's inserts and the worker go first and merges take what "
        "is left; 0 = as ClickHouse. A server (SMSFLOW_CLICKHOUSE_URL) has its own config. "
        "Measured: README, Performance, 2026-12-04.",
    )

    # --- group receiver: the webhook receiver (producers/webhooks.py) -------------------------
    webhook_port: int = Field(default=8080, description="Webhook receiver HTTP port.")
    webhook_token: SecretStr | None = Field(
        default=None,
        description="Shared secret the webhook receiver expects in X-Smsflow-Token; unset = none.",
    )
    webhook_max_body: int = Field(
        default=64 * 1024, ge=1, description="Largest webhook body accepted, in bytes (else 413)."
    )
    webhook_hmac_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the HMAC-SHA256 signature the receiver requires; unset = none.",
    )
    webhook_hmac_secret_file: Path | None = Field(
        default=None, description="File holding webhook_hmac_secret."
    )
    webhook_signature_window_s: int = Field(
        default=300, ge=1, description="Signed timestamps older/newer than this are replays (401)."
    )
    webhook_rate_per_s: float = Field(
        default=2000.0, ge=0, description="Receiver rate limit (requests/s, token bucket); 0 = off."
    )
    webhook_rate_burst: int = Field(
        default=500, ge=1, description="Receiver rate limit: bucket size (burst)."
    )

    # --- group smpp: the SMPP receiver bridge (producers/smpp_bridge.py); on when smpp_host set
    smpp_host: str = Field(default="", description="SMSC host of the SMPP binds; empty = off.")
    smpp_port: int = Field(default=2775, description="SMSC port (platform: 2775, TLS 2776).")
    smpp_tls: bool = Field(default=False, description="Bind over TLS (the platform's 2776).")
    smpp_tls_cafile: Path | None = Field(
        default=None, description="CA bundle (PEM) of the SMSC certificate; default system CAs."
    )
    smpp_system_id: str = Field(default="", description="SMPP system_id (user name).")
    smpp_password: SecretStr | None = Field(default=None, description="SMPP bind password.")
    smpp_password_file: Path | None = Field(
        default=None, description="File holding the SMPP password (read when unset)."
    )
    smpp_system_type: str = Field(default="", description="SMPP system_type of the binds.")
    smpp_bind_type: Literal["receiver", "transceiver"] = Field(
        default="receiver", description="Bind as receiver or transceiver."
    )
    smpp_binds: int = Field(default=4, ge=1, le=64, description="Concurrent binds.")
    smpp_window: int = Field(
        default=64, ge=1, le=1024, description="deliver_sm handled at once per bind."
    )
    smpp_enquire_link_s: float = Field(
        default=30.0, gt=0, description="Idle seconds before an enquire_link keep-alive."
    )
    smpp_timeout_s: float = Field(
        default=30.0, gt=0, description="Connect / bind / enquire_link response timeout (s)."
    )
    smpp_reconnect_min_ms: int = Field(
        default=500, ge=1, description="First reconnect delay (ms); doubled per failed attempt."
    )
    smpp_reconnect_doublings: int = Field(
        default=6, ge=0, description="Most doublings of the reconnect delay (6: 32 x min)."
    )
    smpp_subaccount_id: str = Field(
        default="", description="subaccount_id of MO records (SMPP has none); default system_id."
    )

    # --- group simulator: the simulator (producers/) writing its events -----------------------
    simulator_in_flight: int = Field(
        default=20_000, ge=1, description="Simulator (`simulate`, `produce`): records in "
        "flight at most, sent as producer batches in two halves (one is filled while the "
        "broker acknowledges the other). The value was not measured.",
    )

    # --- group run: `smsflow run`: supervision, health/metrics, the ops API -------------------
    restart_backoff_seconds: float = Field(
        default=1.0, gt=0, description="`run`: first wait before restarting a child that died "
        "(doubles up to 30 s while it keeps dying within 30 s).",
    )
    worker_memory_mib: int = Field(
        default=1024, ge=64, description="`run`: MiB of available memory counted per worker "
        "when it picks the default number of workers. Measured: a worker's RSS stayed at ~600 "
        "MiB with state retention in the 1.05M-event soak (README, Memory); the headroom above "
        "that was not measured.",
    )
    health_port: int = Field(default=8081, description="Health/metrics/query port of `run`.")
    ops_host: str = Field(
        default="127.0.0.1", description="Interface of the ops API of `run` (else a token)."
    )
    ops_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the ops API and dashboard; default <home>/ops.token.",
    )
    ops_allowed_hosts: str = Field(
        default="", description="More Host names the ops API and dashboard answer (a,b)."
    )

    # --- group alerts: alert evaluation (sinks/alerts.py, run by `run`) -----------------------
    alerts_file: Path | None = Field(
        default=None, description="TOML file of alert thresholds (AlertRules); unset = defaults."
    )
    alert_grace_s: int = Field(
        default=300, ge=0, description="`run` evaluates alerts up to the newest submission's "
        "event time less this (late receipts land meanwhile).",
    )
    alert_check_s: float = Field(
        default=30, gt=0, description="`run` looks for alert instants to evaluate this often."
    )
    alert_backlog_records: int = Field(
        default=10_000, ge=1, description="`run` evaluates no alert while its consumer groups "
        "are this many records behind or more: the data of a backlog is incomplete (receipts "
        "behind their requests) and would raise alerts the traffic does not justify.",
    )
    alert_catch_up_instants: int = Field(
        default=16, ge=1, description="`run`: most alert instants one periodic check evaluates "
        "when behind (spreads a backlog's load over checks). The value was not measured.",
    )
    alert_webhook_url: str = Field(
        default="", description="POST alert transitions here as signed JSON; empty = none."
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key signing the alert webhook (as the receiver's)."
    )

    # --- group privacy: what is stored of text and phone numbers ------------------------------
    store_text: bool = Field(
        default=False,
        description="Store message text in ClickHouse (OTP-like digit runs masked); default off.",
    )
    phone_policy: Literal["plain", "mask", "hash"] = Field(
        default="plain",
        description="Phone numbers stored as-is, masked (country code + last 3) or keyed hash.",
    )
    phone_hash_secret: SecretStr | None = Field(
        default=None, description="HMAC key of phone_policy=hash (required then)."
    )
    phone_hash_secret_file: Path | None = Field(
        default=None, description="File holding phone_hash_secret."
    )

    # --- group retention: ClickHouse TTLs -----------------------------------------------------
    retention_messages_days: int = Field(
        default=0, ge=0, description="ClickHouse TTL of the message log (messages); 0 = keep."
    )
    retention_events_days: int = Field(
        default=0, ge=0, description="ClickHouse TTL of input events (message_events, conversions,"
        " survey_responses, clicks); 0 = keep.",
    )
    retention_text_days: int = Field(
        default=0, ge=0, description="ClickHouse TTL of the stored text column; 0 = keep."
    )

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: object) -> object:
        """Fill ``<secret>`` from ``<secret>_file`` when only the file is given."""
        if not isinstance(data, dict):
            return data
        for name in (
            "kafka_sasl_password", "kafka_ssl_key_password", "webhook_hmac_secret",
            "phone_hash_secret", "smpp_password",
        ):
            path = data.get(f"{name}_file")
            if path and not data.get(name):
                try:
                    data[name] = Path(path).read_text().strip()
                except OSError as e:
                    raise ValueError(f"cannot read {name}_file {path}: {e.strerror}") from e
        return data

    @cached_property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def topic_replication(self) -> int:
        """Replication factor of the topics smsflow creates."""
        if self.replication_factor is not None:
            return self.replication_factor
        return 3 if self.kafka_profile == "production" else 1

    @property
    def topic_min_isr(self) -> int:
        """min.insync.replicas of the topics smsflow creates (never above the replicas)."""
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return min(2 if self.kafka_profile == "production" else 1, self.topic_replication)

    def local_broker_ports(self) -> list[tuple[int, int]]:
        """(client, controller) port of each local broker node (``kafka_brokers`` of them)."""
        n = self.kafka_brokers
        clients = [self.kafka_port + i for i in range(n)]
        ctrl0 = self.kafka_controller_port
        if n > 1 and set(clients) & {ctrl0 + i for i in range(n)}:
            ctrl0 = max(clients) + 1
        return [(c, ctrl0 + i) for i, c in enumerate(clients)]

    @property
    def kafka_bootstrap(self) -> str:
        """Bootstrap servers to connect to (explicit setting, else the local broker)."""
        if self.bootstrap_servers:
            return self.bootstrap_servers
        env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if env:
            return env
        if self.kafka_sasl_scram and self.kafka_security_protocol == "SASL_PLAINTEXT":
            return f"127.0.0.1:{self.kafka_sasl_port}"  # the local broker's SCRAM listener
        return ",".join(f"127.0.0.1:{c}" for c, _ in self.local_broker_ports())

    @cached_property
    def alert_rules(self) -> AlertRules:
        """Thresholds from ``alerts_file`` (defaults when unset); ValueError when malformed."""
        if self.alerts_file is None:
            return AlertRules()
        try:
            data = tomllib.loads(self.alerts_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"cannot read alerts_file {self.alerts_file}: {e}") from e
        return AlertRules(**data)

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse_path or (self.home / "clickhouse")


#: every setting by component, in the order of :class:`Settings` (its "group" comments):
#: name -> (what the group is, its settings). A new setting joins one (tests/unit/test_settings.py)
SETTING_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "home": ("where local state lives", (
        "home", "cache_dir",
    )),
    "kafka": ("brokers, topics, client security (infra/, every client)", (
        "bootstrap_servers", "kafka_version", "kafka_port", "kafka_controller_port", "kafka_heap",
        "kafka_jvm_options",
        "topic_prefix", "partitions", "kafka_profile", "replication_factor",
        "min_insync_replicas", "kafka_brokers", "dead_letter_retention_ms",
        "kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username",
        "kafka_sasl_password", "kafka_sasl_password_file", "kafka_ssl_cafile",
        "kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_key_password",
        "kafka_ssl_key_password_file", "kafka_sasl_scram", "kafka_sasl_port",
        "schema_registry_url",
    )),
    "worker": ("the stream worker (streams/): joins, retention, alignment, consumer", (
        "worker_store", "worker_web_port", "reply_window_seconds", "orphan_ttl_seconds",
        "orphan_resend_seconds", "state_retention_hours", "state_retention_grace_seconds",
        "alignment_seconds", "alignment_min_backlog", "alignment_stall_seconds",
        "worker_fetch_min_bytes", "worker_fetch_max_wait_ms", "worker_max_poll_records",
        "worker_queue_batches", "worker_coalesce_batches", "worker_send_ahead",
        "worker_produce_timeout_seconds", "worker_gc_young_allocations",
    )),
    "sink": ("the ClickHouse sink (sinks/): batches, its consumer, the daily roll-up", (
        "sink_batch_size", "sink_batch_ms", "sink_state_batch_ms", "sink_flushes_in_flight",
        "sink_fetch_min_bytes", "sink_fetch_max_wait_ms",
        "rollup_open_days", "rollup_open_hours", "rollup_settle_seconds",
    )),
    "clickhouse": ("a server or embedded chDB", (
        "clickhouse_url", "clickhouse_path", "clickhouse_database", "clickhouse_cluster",
        "clickhouse_password", "clickhouse_merge_nice",
    )),
    "receiver": ("the webhook receiver (producers/webhooks.py)", (
        "webhook_port", "webhook_token", "webhook_max_body", "webhook_hmac_secret",
        "webhook_hmac_secret_file", "webhook_signature_window_s", "webhook_rate_per_s",
        "webhook_rate_burst",
    )),
    "smpp": ("the SMPP receiver bridge (producers/smpp_bridge.py); on when smpp_host set", (
        "smpp_host", "smpp_port", "smpp_tls", "smpp_tls_cafile", "smpp_system_id",
        "smpp_password", "smpp_password_file", "smpp_system_type", "smpp_bind_type", "smpp_binds",
        "smpp_window", "smpp_enquire_link_s", "smpp_timeout_s", "smpp_reconnect_min_ms",
        "smpp_reconnect_doublings", "smpp_subaccount_id",
    )),
    "simulator": ("the simulator (producers/) writing its events", (
        "simulator_in_flight",
    )),
    "run": ("`smsflow run`: supervision, health/metrics, the ops API", (
        "restart_backoff_seconds", "worker_memory_mib", "health_port", "ops_host", "ops_token",
        "ops_allowed_hosts",
    )),
    "alerts": ("alert evaluation (sinks/alerts.py, run by `run`)", (
        "alerts_file", "alert_grace_s", "alert_check_s", "alert_backlog_records",
        "alert_catch_up_instants", "alert_webhook_url", "alert_webhook_secret",
    )),
    "privacy": ("what is stored of text and phone numbers", (
        "store_text", "phone_policy", "phone_hash_secret", "phone_hash_secret_file",
    )),
    "retention": ("ClickHouse TTLs", (
        "retention_messages_days", "retention_events_days", "retention_text_days",
    )),
}

#: settings that tune performance (their descriptions give the measured reason, or say the
#: value was not measured); defaults are the values measured best
TUNING: frozenset[str] = frozenset({
    "orphan_resend_seconds", "alignment_min_backlog", "alignment_stall_seconds",
    "worker_fetch_min_bytes", "worker_fetch_max_wait_ms", "worker_max_poll_records",
    "worker_queue_batches", "worker_coalesce_batches", "worker_send_ahead",
    "worker_gc_young_allocations", "sink_batch_ms", "sink_state_batch_ms",
    "sink_flushes_in_flight", "sink_fetch_min_bytes", "kafka_jvm_options",
    "sink_fetch_max_wait_ms", "simulator_in_flight", "worker_memory_mib",
    "alert_catch_up_instants", "clickhouse_merge_nice",
})


def setting_default(name: str) -> Any:
    """The default of setting ``name`` (for a function's default argument: one source)."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by tests and CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
