"""AlterUserScramCredentials decisions (Kafka's ScramControlManager rules), as a table."""

from __future__ import annotations

from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from millrace_broker.auth.scram import SCRAM_SHA_256, SCRAM_SHA_512, ScramClient, ScramServer
from millrace_broker.metadata.image import MetadataImage, replay
from millrace_broker.metadata.records import (
    RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
    decode_record,
    encode_record,
)
from millrace_broker.server.scram_credentials import plan_scram_changes


@dataclass
class Upsert:
    name: str
    mechanism: int
    iterations: int = 4096
    salt: bytes = b"salt-salt"
    salted_password: bytes = b""


@dataclass
class Delete:
    name: str
    mechanism: int


def upsert(name: str, mechanism: int = 2, iterations: int = 4096, password: str = "pw") -> Upsert:
    scram = SCRAM_SHA_512 if mechanism == 2 else SCRAM_SHA_256
    salted = scram.hi(password.encode(), b"salt-salt", iterations) if mechanism in (1, 2) else b""
    return Upsert(name, mechanism, iterations, b"salt-salt", salted)


def apply(
    image: MetadataImage, deletions: list[Delete], upserts: list[Upsert]
) -> tuple[MetadataImage, dict[str, ErrorCode]]:
    records, results = plan_scram_changes(image, deletions, upserts)
    for record in records:
        image = replay(image, decode_record(encode_record(record)))  # through the log encoding
    return image, {r.user: r.error_code for r in results}


def test_upsert_validation_table() -> None:
    image = MetadataImage(cluster_id="c")
    image, codes = apply(
        image,
        [Delete("ghost", 1)],
        [
            upsert("ok"),
            upsert("", 1),
            upsert("low", 1, iterations=4095),
            upsert("high", 2, iterations=16385),
            upsert("max", 2, iterations=16384),
            upsert("unknown-mech", 3),
            upsert("twice", 1),
            upsert("twice", 2),
        ],
    )
    assert codes == {
        "ok": ErrorCode.none,
        "max": ErrorCode.none,
        "ghost": ErrorCode.resource_not_found,
        "": ErrorCode.unacceptable_credential,
        "low": ErrorCode.unacceptable_credential,
        "high": ErrorCode.unacceptable_credential,
        "unknown-mech": ErrorCode.unsupported_sasl_mechanism,
        "twice": ErrorCode.duplicate_resource,
    }
    assert sorted(image.scram_credentials) == ["max", "ok"]
    assert image.scram_credentials["max"][2].iterations == 16384


def test_stored_credential_verifies_the_password_and_deletes() -> None:
    image, codes = apply(MetadataImage(cluster_id="c"), [], [upsert("u", 2, password="pw")])
    assert codes == {"u": ErrorCode.none}
    credential = image.scram_credentials["u"][2]
    server = ScramServer(SCRAM_SHA_512, {"u": credential}.get)
    client = ScramClient(SCRAM_SHA_512, "u", "pw")
    client.verify(server.step(client.final(server.step(client.first()))))
    image, codes = apply(image, [Delete("u", 2)], [])
    assert codes == {"u": ErrorCode.none} and "u" not in image.scram_credentials


def test_records_keep_key_material_out_of_repr() -> None:
    record = UserScramCredentialRecord("u", 2, "00", "aabb", "ccdd", 4096)
    assert "aabb" not in repr(record) and "ccdd" not in repr(record)
    assert decode_record(encode_record(RemoveUserScramCredentialRecord("u", 2))) == (
        RemoveUserScramCredentialRecord("u", 2)
    )
