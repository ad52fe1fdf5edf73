"""Apache Kafka brokers in KRaft mode on loopback, from the jars `tests/kafka/pom.xml` resolves.

One node is broker and controller at once; a cluster of three is three such nodes voting
together, so killing one leaves a quorum. Every node has a PLAINTEXT listener; with
`secure=True` node 1 also has an SSL listener that requires a client certificate and a
SASL_SSL listener with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (users made at format time).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from types import TracebackType

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streams.embedded import free_port, kafka_ready

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
DEFAULT_JARS = Path.home() / ".cache" / "remission-watch" / "kafka-jars"
USER, PASSWORD = "rw-test", "rw-test-secret"  # SASL user on the test broker: PLAIN and SCRAM


def jars_dir() -> Path:
    return Path(os.environ.get("RW_KAFKA_JARS") or DEFAULT_JARS)


def how_to_enable() -> str:
    return (
        f"run `mvn -q -B -f {POM.relative_to(HERE.parents[1])} dependency:copy-dependencies "
        f"-DoutputDirectory={jars_dir()}` (Java 17+ and Maven; `.ci/run` does it), or point "
        "RW_KAFKA_JARS at a folder holding the kafka_2.13 4.x jars and their dependencies"
    )


def unavailable() -> str | None:
    """Why no Apache Kafka broker can be started here, or None when one can."""
    if shutil.which("java") is None:
        return f"Apache Kafka tests need Java 17+ on PATH: install it, then {how_to_enable()}"
    if not any(jars_dir().glob("kafka_2.13-4.*.jar")):
        return f"no Apache Kafka 4.x jars in {jars_dir()}: {how_to_enable()}"
    return None


@dataclass
class TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (PEM)."""

    folder: Path
    ca: Path = field(init=False)
    server: Path = field(init=False)  # private key (PKCS#8) then certificate, as Kafka wants
    client_cert: Path = field(init=False)
    client_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC) - timedelta(minutes=5)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rw-test-ca")])
        ca_cert = (
            _builder(ca_name, ca_name, ca_key, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = self._write("ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = (
            _builder(_cn("localhost"), ca_name, server_key, now)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.server = self._write(
            "server.pem", _pkcs8(server_key) + server_cert.public_bytes(serialization.Encoding.PEM)
        )
        client_key = ec.generate_private_key(ec.SECP256R1())
        client_cert = (
            _builder(_cn("rw-test-client"), ca_name, client_key, now)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.client_cert = self._write(
            "client.pem", client_cert.public_bytes(serialization.Encoding.PEM)
        )
        self.client_key = self._write("client-key.pem", _pkcs8(client_key))

    def _write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


def _cn(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=2))
    )


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _die_with_parent() -> None:
    """In the child before exec: a test run that is killed takes its brokers with it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    folder: Path
    ssl_port: int | None = None
    sasl_port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class KafkaCluster:
    """`size` combined KRaft nodes; `bootstrap` lists every node's PLAINTEXT listener."""

    def __init__(
        self, folder: Path, size: int = 1, secure: bool = False, start_timeout: float = 120
    ) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.folder = folder
        self.size = size
        self.start_timeout = start_timeout
        self.tls = TlsFiles(folder / "tls") if secure else None
        self.nodes = [
            Node(
                n,
                free_port(),
                free_port(),
                folder / f"node-{n}",
                ssl_port=free_port() if secure and n == 1 else None,
                sasl_port=free_port() if secure and n == 1 else None,
            )
            for n in range(1, size + 1)
        ]
        self.cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.nodes[0].ssl_port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.nodes[0].sasl_port}"

    def __enter__(self) -> KafkaCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            (node.folder / "server.properties").write_text(self._properties(node))
            self._format(node)
        for node in self.nodes:
            self.start_node(node.node_id, wait=False)
        for node in self.nodes:
            self.wait_ready(node.node_id)

    def start_node(self, node_id: int, wait: bool = True) -> None:
        node = self.nodes[node_id - 1]
        with (node.folder / "broker.log").open("ab") as log:
            node.process = subprocess.Popen(
                [
                    "java",
                    "-Xms128m",
                    "-Xmx512m",
                    "-XX:+UseSerialGC",  # two cores shared by many processes
                    "-Djava.awt.headless=true",
                    "-cp",
                    f"{jars_dir()}/*",
                    "kafka.Kafka",
                    str(node.folder / "server.properties"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if wait:
            self.wait_ready(node_id)

    def wait_ready(self, node_id: int) -> None:
        node = self.nodes[node_id - 1]
        deadline = time.monotonic() + self.start_timeout
        while not kafka_ready("127.0.0.1", node.port):
            if node.process is None or node.process.poll() is not None:
                raise RuntimeError(f"Kafka node {node_id} exited: {self.log_tail(node_id)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Kafka node {node_id} not ready in {self.start_timeout}s: "
                    f"{self.log_tail(node_id)}"
                )
            time.sleep(0.2)

    def kill(self, node_id: int) -> None:
        """SIGKILL: no clean shutdown, no controlled leader moves."""
        node = self.nodes[node_id - 1]
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=30)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=10)

    def log_tail(self, node_id: int, chars: int = 3000) -> str:
        path = self.nodes[node_id - 1].folder / "broker.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def _format(self, node: Node) -> None:
        command = [
            "java",
            "-cp",
            f"{jars_dir()}/*",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={self.cluster_id}",
            "--config",
            str(node.folder / "server.properties"),
        ]
        if self.tls is not None:
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                command += ["--add-scram", f"{mechanism}=[name={USER},password={PASSWORD}]"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"formatting Kafka storage failed: {done.stdout}{done.stderr}")

    def _properties(self, node: Node) -> str:
        replicas = min(self.size, 3)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        listeners = [f"PLAINTEXT://127.0.0.1:{node.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        props = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": node.folder / "data",
            # as in docker-compose.yml: a topic nobody created is an error, never a default
            "auto.create.topics.enable": "false",
            "num.partitions": 1,
            "default.replication.factor": replicas,
            "min.insync.replicas": max(1, replicas - 1),
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 8,  # 50 by default: slow first group join
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": max(1, replicas - 1),
            "transaction.state.log.num.partitions": 4,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": max(1, replicas - 1),
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
        if self.tls is not None and node.ssl_port is not None:
            listeners += [
                f"SSL://127.0.0.1:{node.ssl_port}",
                f"SASL_SSL://127.0.0.1:{node.sasl_port}",
            ]
            protocols += ["SSL:SSL", "SASL_SSL:SASL_SSL"]
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            plain = (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_{USER}="{PASSWORD}";'
            )
            props |= {
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": self.tls.server,
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": self.tls.ca,
                "listener.name.ssl.ssl.client.auth": "required",
                "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
                "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            }
        props["listeners"] = ",".join(
            [*listeners, f"CONTROLLER://127.0.0.1:{node.controller_port}"]
        )
        props["advertised.listeners"] = ",".join(listeners)
        props["listener.security.protocol.map"] = ",".join(protocols)
        return "".join(f"{key}={value}\n" for key, value in props.items())


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """Every config of each topic as the broker reports it (defaults included)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="rw-test")
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        found: dict[str, dict[str, str]] = {}
        for response in await admin.describe_configs(resources):
            for error, _message, _kind, topic, entries, *_ in response.resources:
                assert error == 0, f"describe_configs({topic}): error {error}"
                found[topic] = {name: value for name, value, *_ in entries}
        return found
    finally:
        await admin.close()


async def replicas(bootstrap: str, topics: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Per topic, each partition's (replica count, in-sync replica count)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="rw-test")
    await admin.start()
    try:
        return {
            t["topic"]: [(len(p["replicas"]), len(p["isr"])) for p in t["partitions"]]
            for t in await admin.describe_topics(topics)
        }
    finally:
        await admin.close()


async def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="rw-test")
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return next(
            int(p["leader"]) for p in described["partitions"] if p["partition"] == partition
        )
    finally:
        await admin.close()
