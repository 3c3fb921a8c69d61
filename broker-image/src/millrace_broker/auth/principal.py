"""Principals from TLS client certificates: the subject as an RFC 2253 distinguished
name, mapped by `ssl.principal.mapping.rules` (Kafka's SslPrincipalMapper).

Python's `getpeercert()` gives the subject as RDNs in certificate (ASN.1) order;
RFC 2253 writes them last first, as Java's `X500Principal.getName()` does
("CN=alice,OU=eng,O=Acme,C=US"), with Java's keywords for the common attribute types.

Rules are `DEFAULT` (the DN unchanged) or `RULE:<regex>/<replacement>/[L|U]`, tried in
order; the first whose regex matches the whole DN wins, `$1`... in the replacement name
the regex's groups, and a trailing `L`/`U` lower- or upper-cases the result. When no
rule matches, the client cannot authenticate, as in Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Java's X500Principal RFC 2253 keywords for the attribute names Python reports.
_KEYWORDS = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_SPECIAL = set(',+"\\<>;')


class PrincipalMappingError(ValueError):
    pass


def _escape(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in _SPECIAL or (i == 0 and ch in "# ") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def rfc2253_name(subject: Sequence[Sequence[tuple[str, str]]]) -> str:
    """`getpeercert()["subject"]` -> "CN=alice,O=Acme,C=US"."""
    rdns = []
    for rdn in reversed(subject):
        rdns.append(
            "+".join(f"{_KEYWORDS.get(name, name)}={_escape(value)}" for name, value in rdn)
        )
    return ",".join(rdns)


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str = ""
    case: str = ""

    def apply(self, dn: str) -> str | None:
        if self.pattern is None:
            return dn
        if self.pattern.fullmatch(dn) is None:
            return None
        result = self.pattern.sub(self.replacement, dn)
        if self.case == "L":
            return result.lower()
        if self.case == "U":
            return result.upper()
        return result


_RULE = re.compile(r"\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))\s*(?:,|$)")


def _java_replacement(text: str) -> str:
    """Java's `$1` group references -> Python's `\\g<1>`; other backslashes literal."""
    text = text.replace("\\/", "/")
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            out.append(f"\\g<{text[i + 1]}>")
            i += 2
            continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


def parse_rules(text: str) -> list[Rule]:
    rules: list[Rule] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _RULE.match(text, pos)
        if match is None or match.end() == pos:
            raise PrincipalMappingError(
                f"ssl.principal.mapping.rules: invalid rule at '{text[pos : pos + 40]}' "
                "(expected DEFAULT or RULE:pattern/replacement/[LU])"
            )
        if match.group(1):
            rules.append(Rule(None))
        else:
            try:
                pattern = re.compile(match.group(2).replace("\\/", "/"))
            except re.error as exc:
                raise PrincipalMappingError(
                    f"ssl.principal.mapping.rules: bad regular expression: {exc}"
                ) from exc
            rules.append(Rule(pattern, _java_replacement(match.group(3)), match.group(4)))
        pos = match.end()
    return rules or [Rule(None)]


def map_principal(dn: str, rules: Sequence[Rule]) -> str:
    """The short name for a certificate DN; raises when no rule applies."""
    for rule in rules:
        name = rule.apply(dn)
        if name is not None:
            return name
    raise PrincipalMappingError(f"No rules apply to {dn}")
