"""Parse a `sasl.jaas.config` value, as Kafka's JaasConfig does.

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_alice="alice-secret";

One or more login modules, each `<class> <flag> (<option>=<value>)* ;`. Values are bare
words or double-quoted strings (backslash escapes the next character). For PLAIN,
`user_<name>="<password>"` options are the users the broker accepts; for every
mechanism, `username`/`password` are what this broker presents when it connects to
other brokers or controllers. Errors never quote option values (they may be secrets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FLAGS = frozenset({"required", "requisite", "sufficient", "optional"})


class JaasError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LoginModule:
    class_name: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # option values may be passwords
        return f"LoginModule({self.class_name}, {self.flag}, options={sorted(self.options)})"


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(token, quoted) pairs; `=` and `;` are tokens of their own."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "=;":
            out.append((ch, False))
            i += 1
        elif ch == '"':
            i += 1
            buf = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise JaasError("sasl.jaas.config: unterminated quoted value")
            out.append(("".join(buf), True))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '=;"':
                i += 1
            out.append((text[start:i], False))
    return out


def parse_jaas_config(text: str) -> list[LoginModule]:
    tokens = _tokens(text)
    modules: list[LoginModule] = []
    pos = 0
    while pos < len(tokens):
        if pos + 1 >= len(tokens):
            raise JaasError("sasl.jaas.config: expected '<LoginModule> <flag> options;'")
        class_name, flag = tokens[pos][0], tokens[pos + 1][0].lower()
        if flag not in FLAGS:
            raise JaasError(
                f"sasl.jaas.config: invalid control flag for {class_name} "
                f"(expected one of {', '.join(sorted(FLAGS))})"
            )
        pos += 2
        options: dict[str, str] = {}
        while True:
            if pos >= len(tokens):
                raise JaasError("sasl.jaas.config: the login module must end with ';'")
            if tokens[pos] == (";", False):
                pos += 1
                break
            if pos + 2 >= len(tokens) or tokens[pos + 1] != ("=", False):
                raise JaasError(f"sasl.jaas.config: expected option=value after {class_name}")
            options[tokens[pos][0]] = tokens[pos + 2][0]
            pos += 3
        modules.append(LoginModule(class_name, flag, options))
    if not modules:
        raise JaasError("sasl.jaas.config: no login module")
    return modules


def options_of(text: str) -> dict[str, str]:
    """The options of the (single, as Kafka requires for a listener) login module."""
    modules = parse_jaas_config(text)
    if len(modules) != 1:
        raise JaasError(
            f"sasl.jaas.config must contain exactly one login module, found {len(modules)}"
        )
    return dict(modules[0].options)


def plain_users(options: dict[str, str]) -> dict[str, str]:
    """PLAIN's `user_<name>=<password>` options -> {name: password}."""
    return {k[len("user_") :]: v for k, v in options.items() if k.startswith("user_")}
