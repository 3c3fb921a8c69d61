"""The authorizer's decisions as tables: StandardAuthorizer semantics, no broker."""

from __future__ import annotations

import logging

import pytest

from millrace_broker.auth.acl import (
    Acl,
    AclError,
    AclFilter,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    validate_new_acl,
)
from millrace_broker.auth.authorizer import (
    STANDARD_AUTHORIZER,
    Authorizer,
    AuthorizerConfigError,
    AuthorizerSettings,
    decide,
    decide_any,
    settings_from,
)

T, G, C, TX = (
    ResourceType.TOPIC,
    ResourceType.GROUP,
    ResourceType.CLUSTER,
    ResourceType.TRANSACTIONAL_ID,
)
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
Op = Operation
ALLOW, DENY = Permission.ALLOW, Permission.DENY
ALICE = "User:alice"


def acl(
    rtype: ResourceType,
    name: str,
    pattern: PatternType,
    op: Operation,
    perm: Permission = ALLOW,
    principal: str = ALICE,
    host: str = "*",
) -> Acl:
    return Acl(rtype, name, pattern, principal, host, op, perm)


DECISIONS = [
    # (acls, principal, host, operation, type, name, allowed)
    pytest.param([], ALICE, "1.1.1.1", Op.READ, T, "a", False, id="no acl: denied by default"),
    pytest.param([acl(T, "a", LIT, Op.READ)], ALICE, "h", Op.READ, T, "a", True, id="literal"),
    pytest.param(
        [acl(T, "a", LIT, Op.READ)], ALICE, "h", Op.READ, T, "ab", False, id="literal only"
    ),
    pytest.param(
        [acl(T, "*", LIT, Op.READ)], ALICE, "h", Op.READ, T, "x", True, id="wildcard name"
    ),
    pytest.param(
        [acl(T, "pay-", PRE, Op.WRITE)], ALICE, "h", Op.WRITE, T, "pay-1", True, id="prefix"
    ),
    pytest.param([acl(T, "pay-", PRE, Op.WRITE)], ALICE, "h", Op.WRITE, T, "pa", False, id="short"),
    pytest.param([acl(T, "pay-", PRE, Op.WRITE)], ALICE, "h", Op.WRITE, T, "other", False, id="np"),
    pytest.param([acl(T, "a", LIT, Op.READ)], "User:bob", "h", Op.READ, T, "a", False, id="who"),
    pytest.param(
        [acl(T, "a", LIT, Op.READ, principal="User:*")],
        "User:bob",
        "h",
        Op.READ,
        T,
        "a",
        True,
        id="wildcard principal",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.READ, host="10.0.0.1")],
        ALICE,
        "10.0.0.1",
        Op.READ,
        T,
        "a",
        True,
        id="host matches",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.READ, host="10.0.0.1")],
        ALICE,
        "10.0.0.2",
        Op.READ,
        T,
        "a",
        False,
        id="other host",
    ),
    pytest.param([acl(T, "a", LIT, Op.READ)], ALICE, "h", Op.WRITE, T, "a", False, id="other op"),
    pytest.param([acl(T, "a", LIT, Op.ALL)], ALICE, "h", Op.DELETE, T, "a", True, id="ALL"),
    pytest.param(
        [acl(T, "a", LIT, Op.WRITE)],
        ALICE,
        "h",
        Op.DESCRIBE,
        T,
        "a",
        True,
        id="WRITE implies DESCRIBE",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.DELETE)],
        ALICE,
        "h",
        Op.DESCRIBE,
        T,
        "a",
        True,
        id="DELETE implies DESCRIBE",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.CREATE)],
        ALICE,
        "h",
        Op.DESCRIBE,
        T,
        "a",
        False,
        id="CREATE does not imply DESCRIBE",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.ALTER_CONFIGS)],
        ALICE,
        "h",
        Op.DESCRIBE_CONFIGS,
        T,
        "a",
        True,
        id="ALTER_CONFIGS implies DESCRIBE_CONFIGS",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.DESCRIBE)],
        ALICE,
        "h",
        Op.READ,
        T,
        "a",
        False,
        id="DESCRIBE implies nothing",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.READ), acl(T, "a", LIT, Op.DESCRIBE, DENY)],
        ALICE,
        "h",
        Op.DESCRIBE,
        T,
        "a",
        False,
        id="deny describe beats implied describe",
    ),
    pytest.param(
        [acl(T, "a", LIT, Op.READ), acl(T, "a", LIT, Op.READ, DENY)],
        ALICE,
        "h",
        Op.DESCRIBE,
        T,
        "a",
        True,
        id="deny READ does not deny DESCRIBE",
    ),
    pytest.param(
        [acl(T, "pay-", PRE, Op.WRITE), acl(T, "pay-secret", LIT, Op.WRITE, DENY)],
        ALICE,
        "h",
        Op.WRITE,
        T,
        "pay-secret",
        False,
        id="deny wins over allow",
    ),
    pytest.param(
        [acl(T, "pay-", PRE, Op.WRITE), acl(T, "pay-secret", LIT, Op.WRITE, DENY)],
        ALICE,
        "h",
        Op.WRITE,
        T,
        "pay-open",
        True,
        id="deny is specific",
    ),
    pytest.param(
        [acl(T, "*", LIT, Op.ALL, DENY, principal="User:*")],
        ALICE,
        "h",
        Op.READ,
        T,
        "a",
        False,
        id="deny everyone",
    ),
    pytest.param(
        [acl(G, "a", LIT, Op.READ)], ALICE, "h", Op.READ, T, "a", False, id="resource type matters"
    ),
    pytest.param(
        [acl(C, "kafka-cluster", LIT, Op.CREATE)],
        ALICE,
        "h",
        Op.CREATE,
        C,
        "kafka-cluster",
        True,
        id="cluster",
    ),
    pytest.param(
        [acl(TX, "tx-", PRE, Op.WRITE)],
        ALICE,
        "h",
        Op.WRITE,
        TX,
        "tx-1",
        True,
        id="transactional id",
    ),
]


@pytest.mark.parametrize(("acls", "principal", "host", "op", "rtype", "name", "allowed"), DECISIONS)
def test_decisions(
    acls: list[Acl],
    principal: str,
    host: str,
    op: Operation,
    rtype: ResourceType,
    name: str,
    allowed: bool,
) -> None:
    settings = AuthorizerSettings(frozenset())
    got = decide(
        acls, settings, principal=principal, host=host, operation=op, resource_type=rtype, name=name
    )
    assert got.allowed is allowed, got.rule


def test_super_user_overrides_deny() -> None:
    settings = AuthorizerSettings(frozenset({"User:admin"}))
    deny_all = [acl(T, "*", LIT, Op.ALL, DENY, principal="User:*")]
    got = decide(
        deny_all,
        settings,
        principal="User:admin",
        host="h",
        operation=Op.WRITE,
        resource_type=T,
        name="x",
    )
    assert got.allowed and got.rule == "SuperUser"


@pytest.mark.parametrize(
    ("acls", "allowed"),
    [
        ([], True),  # nothing covers the topic
        ([acl(T, "a", LIT, Op.READ, principal="User:bob")], False),  # covered for someone else
        ([acl(T, "b", LIT, Op.READ, principal="User:bob")], True),  # another topic
        ([acl(T, "a", PRE, Op.READ, principal="User:bob")], False),  # a prefix covers it
    ],
)
def test_allow_everyone_if_no_acl_found(acls: list[Acl], allowed: bool) -> None:
    settings = AuthorizerSettings(frozenset(), allow_everyone_if_no_acl_found=True)
    got = decide(
        acls, settings, principal=ALICE, host="h", operation=Op.READ, resource_type=T, name="a"
    )
    assert got.allowed is allowed


@pytest.mark.parametrize(
    ("acls", "allowed"),
    [
        ([], False),
        ([acl(T, "a", LIT, Op.WRITE)], True),
        ([acl(T, "p-", PRE, Op.WRITE)], True),
        ([acl(T, "a", LIT, Op.READ)], False),
        ([acl(T, "a", LIT, Op.WRITE), acl(T, "a", LIT, Op.WRITE, DENY)], False),
        ([acl(T, "p-a", LIT, Op.WRITE), acl(T, "p-", PRE, Op.WRITE, DENY)], False),
        ([acl(T, "a", LIT, Op.WRITE), acl(T, "*", LIT, Op.WRITE, DENY)], False),
        ([acl(T, "a", LIT, Op.WRITE), acl(T, "b", LIT, Op.WRITE)], True),
    ],
)
def test_write_on_any_topic(acls: list[Acl], allowed: bool) -> None:
    got = decide_any(
        acls,
        AuthorizerSettings(frozenset()),
        principal=ALICE,
        host="h",
        operation=Op.WRITE,
        resource_type=T,
    )
    assert got.allowed is allowed


STORED = [
    acl(T, "a", LIT, Op.READ),
    acl(T, "*", LIT, Op.READ),
    acl(T, "pay-", PRE, Op.WRITE),
    acl(T, "pay-1", PRE, Op.WRITE, principal="User:bob"),
    acl(G, "a", LIT, Op.READ),
]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (AclFilter(), [0, 1, 2, 3, 4]),
        (AclFilter(resource_type=T), [0, 1, 2, 3]),
        (AclFilter(resource_type=T, resource_name="a"), [0]),
        (AclFilter(resource_type=T, resource_name="a", pattern_type=PatternType.MATCH), [0, 1]),
        (AclFilter(resource_name="pay-123", pattern_type=PatternType.MATCH), [1, 2, 3]),
        (AclFilter(pattern_type=PRE), [2, 3]),
        (AclFilter(principal="User:bob"), [3]),
        (AclFilter(operation=Op.WRITE), [2, 3]),
        (AclFilter(permission=DENY), []),
        (AclFilter(host="*", resource_type=G), [4]),
    ],
)
def test_filters(flt: AclFilter, expected: list[int]) -> None:
    assert [i for i, a in enumerate(STORED) if flt.matches(a)] == expected


@pytest.mark.parametrize(
    "bad",
    [
        acl(ResourceType.ANY, "a", LIT, Op.READ),
        acl(T, "a", PatternType.MATCH, Op.READ),
        acl(T, "a", LIT, Op.ANY),
        acl(T, "a", LIT, Op.READ, Permission.ANY),
        acl(T, "", LIT, Op.READ),
        acl(C, "my-cluster", LIT, Op.ALTER),
        acl(T, "a", LIT, Op.READ, principal="alice"),
    ],
)
def test_invalid_new_acls(bad: Acl) -> None:
    with pytest.raises(AclError):
        validate_new_acl(bad)


def test_settings_from_config() -> None:
    assert settings_from("", None, None) is None
    settings = settings_from(STANDARD_AUTHORIZER, "User:admin; User:ops", None)
    assert settings == AuthorizerSettings(frozenset({"User:admin", "User:ops"}), False)
    with pytest.raises(AuthorizerConfigError, match="StandardAuthorizer"):
        settings_from("kafka.security.authorizer.AclAuthorizer", None, None)


def test_audit_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    acls = {"1": acl(T, "a", LIT, Op.READ)}
    authorizer = Authorizer(AuthorizerSettings(frozenset()), lambda: acls)
    with caplog.at_level(logging.DEBUG, logger="millrace.audit"):
        assert authorizer.authorize(
            principal=ALICE,
            host="1.2.3.4",
            operation=Op.READ,
            resource_type=T,
            name="a",
            request="Fetch",
        )
        assert not authorizer.authorize(
            principal=ALICE,
            host="1.2.3.4",
            operation=Op.WRITE,
            resource_type=T,
            name="a",
            request="Produce",
        )
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "millrace.audit"]
    assert lines[0][0] == "DEBUG" and "is Allowed operation = READ" in lines[0][1]
    assert lines[1][0] == "INFO"
    assert "Principal = User:alice is Denied operation = WRITE from host = 1.2.3.4" in lines[1][1]
    assert "Topic:LITERAL:a for request = Produce" in lines[1][1]


def test_decisions_follow_acl_changes() -> None:
    """Cached decisions are dropped when the ACL set changes."""
    current: dict[str, Acl] = {}
    authorizer = Authorizer(AuthorizerSettings(frozenset()), lambda: current)

    def may_read() -> bool:
        return authorizer.authorize(
            principal=ALICE, host="h", operation=Op.READ, resource_type=T, name="a", request="F"
        )

    assert not may_read()
    current = {"1": acl(T, "a", LIT, Op.READ)}
    assert may_read()
    current = {}
    assert not may_read()
