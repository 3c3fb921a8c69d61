"""Security fixtures for tests: a test CA and certificates (cryptography), and a broker
with SASL_PLAINTEXT, SASL_SSL and SSL listeners next to its controller listener."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support_broker import BrokerProcess, free_port

# PLAIN users of the broker's JAAS config; SCRAM users are created through the API.
PLAIN_USERS = {"admin": "admin-secret", "alice": "alice-secret"}
SECRETS = ("admin-secret", "alice-secret")


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Millrace Test"))
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class TestCA:
    """A CA made for one test run; issues server and client certificates as PEM files."""

    __test__ = False  # not a pytest test class despite the name

    directory: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, name: str = "Millrace Test CA") -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, key, cert)
        (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ca

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def issue(
        self,
        file_stem: str,
        cn: str,
        *,
        ou: str | None = None,
        server: bool = False,
        expired: bool = False,
    ) -> tuple[Path, Path, Path]:
        """(combined key+chain PEM, certificate PEM, key PEM) for `cn`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=10)
        if expired:
            start, end = now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, ou))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _pem_key(key)
        combined = self.directory / f"{file_stem}.keystore.pem"
        cert_file = self.directory / f"{file_stem}.crt"
        key_file = self.directory / f"{file_stem}.key"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        combined.write_bytes(key_pem + cert_pem)
        return combined, cert_file, key_file


def jaas_plain(users: dict[str, str], *, username: str = "admin") -> str:
    entries = " ".join(f'user_{name}="{password}"' for name, password in users.items())
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{username}" password="{users[username]}" {entries};'
    )


@dataclass
class SecureBroker:
    broker: BrokerProcess
    sasl_port: int
    sasl_ssl_port: int
    ssl_port: int
    ca: TestCA

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ssl_port}"


def secure_overrides(
    ca: TestCA, sasl_port: int, sasl_ssl_port: int, ssl_port: int, controller_port: int
) -> list[str]:
    keystore, _, _ = ca.issue("broker", "localhost", server=True)
    listeners = {
        "SASL_PLAINTEXT": sasl_port,
        "SASL_SSL": sasl_ssl_port,
        "SSL": ssl_port,
    }
    advertised = ",".join(f"{n}://127.0.0.1:{p}" for n, p in listeners.items())
    return [
        f"listeners={advertised},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners={advertised}",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,"
        "SSL:SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas_plain(PLAIN_USERS)}",
        f"listener.name.sasl_ssl.plain.sasl.jaas.config={jaas_plain(PLAIN_USERS)}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca.ca_file}",
        "listener.name.ssl.ssl.client.auth=required",
        "listener.name.ssl.ssl.principal.mapping.rules="
        "RULE:^CN=([A-Za-z0-9]+),OU=Apps,.*$/$1/L,DEFAULT",
    ]


@contextmanager
def secure_broker(
    directory: Path, extra: list[str] | None = None, *, extra_args: list[str] | None = None
) -> Iterator[SecureBroker]:
    ca = TestCA.create(directory / "tls")
    sasl_port, sasl_ssl_port, ssl_port, controller = (free_port() for _ in range(4))
    overrides = secure_overrides(ca, sasl_port, sasl_ssl_port, ssl_port, controller)
    broker = BrokerProcess(
        directory / "data",
        sasl_port,
        [*overrides, *(extra or [])],
        controller_port=controller,
        extra_args=list(extra_args or []),
    )
    broker.start()
    try:
        yield SecureBroker(broker, sasl_port, sasl_ssl_port, ssl_port, ca)
    finally:
        broker.stop()


def librdkafka_conf(
    bootstrap: str, protocol: str, mechanism: str, user: str, password: str, ca: TestCA
) -> dict[str, str]:
    conf = {
        "bootstrap.servers": bootstrap,
        "security.protocol": protocol,
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if protocol == "SASL_SSL":
        conf["ssl.ca.location"] = str(ca.ca_file)
    return conf
