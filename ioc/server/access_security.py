"""EPICS access security's file (ACF: ``UAG``, ``HAG``, ``ASG``, ``INPx``, ``RULE``, ``CALC``),
read as epics-base's asLib reads it (``modules/libcom/src/as``: ``asLib.y``, ``asLib_lex.l``;
the Application Developer's Guide, "IOC Access Security"), into an
:class:`~ioc.server.access_rules.AccessConfig` (whose module says how rights are decided).

The file::

    UAG(staff) {"$(IOC_USER)", alice}           # user access group: login names, exact
    HAG(beamline) {localhost}                   # host access group: host names (resolved)
    ASG(DEFAULT) {                              # the group of every PV naming no (known) group
        RULE(1, READ)
    }
    ASG(SIMULATION) {
        INPA("BL:sim:Permit")                   # inputs A..L: PVs whose values CALC reads
        RULE(1, READ)
        RULE(1, WRITE, TRAPWRITE) {             # level 0|1; NONE|READ|WRITE; TRAPWRITE logs writes
            UAG(staff) HAG(beamline)            # every condition given must hold
            CALC("A=1")                         # true when 0.99 < result < 1.01
        }
    }

Macros. With ``substitutions`` (asSetSubstitutions' ``"a=1,b=2"`` or a dict), ``$(NAME)``,
``${NAME}`` and ``$(NAME=default)`` are replaced before the line is read, as macLib does; an
undefined one is an error naming the line (comments are left alone). Without, ``$`` is an
invalid character, as in base.

Strictness. Everything base refuses is refused, with the file's line and the reason, and
nothing is applied: :func:`parse`/:func:`load` return a new ``AccessConfig`` or raise
:class:`ACFError`. Refused here though base takes it: a RULE level other than 0 or 1 (the
guide says it must be), an INP letter given twice in a group, two CALCs in one rule, the
CALC features :mod:`ioc.server.calc` refuses, and what base 7.0.9+ skips with a warning
for forward compatibility (an unknown top-level block such as ``uag(...)``, a RULE whose
access is not NONE/READ/WRITE, an unknown item in an ASG or a RULE): here a typo must not
silently drop a group or a rule. What base only logs is in ``warnings``.

``python -m ioc.server.access_security [-S a=1,b=2] FILE`` checks a file, as ``ascheck`` does.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from .access_rules import (
    ACCESS_NAMES,
    DEFAULT,
    LEVELS,
    NO_ACCESS,
    NONE,
    READ,
    WRITE,
    AccessConfig,
    ACFError,
    Group,
    Rights,
    Rule,
    resolve_ipv4,
)
from .calc import INPUTS, Calc, CalcError, compile_calc

# -- reading the file ------------------------------------------------------------------------

KEYWORDS = {"UAG", "HAG", "ASG", "RULE", "CALC"} | {f"INP{letter}" for letter in INPUTS}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+:.[]<>;")
_PUNCTUATION = set("(){},")
_MACRO = re.compile(r"\$(?:\(([^)=]*)(?:=([^)]*))?\)|\{([^}=]*)(?:=([^}]*))?\})")


class Token(NamedTuple):
    kind: str  # KEYWORD, INTEGER, STRING or the punctuation character; END at the end
    text: str
    line: int


def parse_substitutions(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` (asSetSubstitutions) as a dict; ValueError for an entry without ``=``."""
    result = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"substitution {item!r} is not NAME=VALUE")
        result[name.strip()] = value.strip()
    return result


def _comment_start(line: str) -> int:
    """Where an unquoted ``#`` begins a comment on ``line`` (its length if none)."""
    quoted = escaped = False
    for i, char in enumerate(line):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "#":
            return i
    return len(line)


def _expand(line: str, number: int, macros: Mapping[str, str], source: str) -> str:
    code_end = _comment_start(line)

    def replace(match: re.Match) -> str:
        name = (match.group(1) if match.group(1) is not None else match.group(3)).strip()
        default = match.group(2) if match.group(1) is not None else match.group(4)
        if name in macros:
            return macros[name]
        if default is not None:
            return default
        raise ACFError(f"macro $({name}) is not defined (defined: {', '.join(sorted(macros)) or 'none'})",
                       number, source)

    return _MACRO.sub(replace, line[:code_end]) + line[code_end:]


def tokenize(text: str, source: str = "<acf>", substitutions: Mapping[str, str] | None = None) -> list[Token]:
    """The tokens of an ACF text, as ``asLib_lex.l`` reads them (ACFError for a bad character)."""
    tokens: list[Token] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if substitutions is not None:
            line = _expand(line, number, substitutions, source)
        i = 0
        while i < len(line):
            char = line[i]
            if char in " \t\r":
                i += 1
            elif char == "#":
                break
            elif char in _PUNCTUATION:
                tokens.append(Token(char, char, number))
                i += 1
            elif char == '"':
                j, escaped = i + 1, False
                while j < len(line) and (escaped or line[j] != '"'):
                    escaped = not escaped and line[j] == "\\"
                    j += 1
                if j >= len(line):
                    raise ACFError("Newline in quoted string, closing quote missing", number, source)
                tokens.append(Token("STRING", line[i + 1:j], number))  # backslashes kept, as base
                i = j + 1
            elif char in _NAME_CHARS:
                j = i
                while j < len(line) and line[j] in _NAME_CHARS:
                    j += 1
                word = line[i:j]
                kind = "KEYWORD" if word in KEYWORDS else "INTEGER" if word.isdigit() else "STRING"
                tokens.append(Token(kind, word, number))
                i = j
            else:
                shown = f"'{char}'" if char.isprintable() else f"0x{ord(char):02x}"
                raise ACFError(f"Invalid character {shown}", number, source)
    tokens.append(Token("END", "", text.count("\n") + 1))
    return tokens


class _Reader:
    """``asLib.y``'s grammar over the tokens, building the configuration as it goes."""

    def __init__(self, tokens: list[Token], source: str, check_client_ip: bool,
                 resolve: Callable[[str], Iterable[str]]) -> None:
        self.tokens = tokens
        self.i = 0
        self.source = source
        self.check_client_ip = check_client_ip
        self.resolve = resolve
        self.uags: dict[str, set[str]] = {}
        self.hags: dict[str, set[str]] = {}
        self.hag_entries: dict[str, list[str]] = {}
        self.groups: dict[str, dict] = {DEFAULT: {"inputs": {}, "rules": [], "line": 0}}
        self.warnings: list[str] = []
        self.user_seen: dict[str, str] = {}
        self.host_seen: dict[str, str] = {}

    # -- token helpers --

    def _peek(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "END":
            self.i += 1
        return token

    def _error(self, reason: str, token: Token | None = None) -> ACFError:
        return ACFError(reason, (token or self._peek()).line, self.source)

    @staticmethod
    def _shown(token: Token) -> str:
        if token.kind == "END":
            return "the end of the file"
        if token.kind == "STRING":
            return f"{token.text!r}"
        return f"'{token.text}'"

    def _expect(self, kind: str, what: str) -> Token:
        token = self._next()
        if token.kind != kind:
            raise self._error(f"syntax error: expected {what}, found {self._shown(token)}", token)
        return token

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}")

    # -- grammar --

    def read(self) -> AccessConfig:
        if self._peek().kind == "END":
            raise self._error("syntax error: the file defines no UAG, HAG or ASG")
        while self._peek().kind != "END":
            token = self._next()
            if token.kind == "KEYWORD" and token.text == "UAG":
                self._uag(token)
            elif token.kind == "KEYWORD" and token.text == "HAG":
                self._hag(token)
            elif token.kind == "KEYWORD" and token.text == "ASG":
                self._asg(token)
            else:
                raise self._error(f"syntax error: expected UAG, HAG or ASG, found {self._shown(token)}", token)
        groups = {name: Group(name, dict(g["inputs"]), tuple(g["rules"])) for name, g in self.groups.items()}
        if not groups[DEFAULT].rules:
            self._warn(0, "ASG(DEFAULT) has no rules: a PV in no other group can be neither read nor written")
        return AccessConfig(
            uags={name: frozenset(users) for name, users in self.uags.items()},
            hags={name: frozenset(hosts) for name, hosts in self.hags.items()},
            groups=groups, check_client_ip=self.check_client_ip,
            hag_entries={name: tuple(hosts) for name, hosts in self.hag_entries.items()},
            warnings=tuple(self.warnings), source=self.source)

    def _head(self, what: str) -> Token:
        self._expect("(", f"'(' after {what}")
        name = self._expect("STRING", f"a name in {what}(...)")
        self._expect(")", f"')' after {what}({name.text}")
        return name

    def _name_list(self, what: str) -> list[Token]:
        names = [self._expect("STRING", f"a name in {what}")]
        while self._peek().kind == ",":
            self._next()
            names.append(self._expect("STRING", f"a name after ',' in {what}"))
        return names

    def _uag(self, keyword: Token) -> None:
        name = self._head("UAG")
        if name.text in self.uags:
            raise self._error(f"Duplicate User Access Group named '{name.text}'", name)
        users = self.uags[name.text] = set()
        if self._peek().kind == "{":
            self._next()
            for user in self._name_list(f"UAG({name.text}) {{...}}"):
                if user.text in users:
                    self._warn(user.line, f"Duplicated user '{user.text}' in UAG '{name.text}'")
                users.add(user.text)
            self._expect("}", f"'}}' closing UAG({name.text})")

    def _hag(self, keyword: Token) -> None:
        name = self._head("HAG")
        if name.text in self.hags:
            raise self._error(f"Duplicate Host Access Group named '{name.text}'", name)
        hosts = self.hags[name.text] = set()
        entries = self.hag_entries[name.text] = []
        if self._peek().kind == "{":
            self._next()
            for host in self._name_list(f"HAG({name.text}) {{...}}"):
                entries.append(host.text)
                if self.check_client_ip:
                    addresses = set(self.resolve(host.text))
                    if not addresses:
                        self._warn(host.line, f"HAG({name.text}): host '{host.text}' does not resolve to an "
                                              "IPv4 address; it matches no client")
                    hosts |= addresses
                else:
                    hosts.add(host.text.lower())
            self._expect("}", f"'}}' closing HAG({name.text})")

    def _asg(self, keyword: Token) -> None:
        name = self._head("ASG")
        group = self.groups.get(name.text)
        if group is not None and (name.text != DEFAULT or group["inputs"] or group["rules"]):
            raise self._error(f"Duplicate Access Security Group named '{name.text}'", name)
        if group is None:
            group = self.groups[name.text] = {"inputs": {}, "rules": [], "line": name.line}
        if self._peek().kind != "{":
            return
        self._next()
        if self._peek().kind == "}":
            raise self._error(f"syntax error: ASG({name.text}) {{}} is empty (give INP or RULE, or no braces)")
        while self._peek().kind != "}":
            token = self._next()
            if token.kind == "KEYWORD" and token.text.startswith("INP"):
                self._inp(name.text, group, token)
            elif token.kind == "KEYWORD" and token.text == "RULE":
                group["rules"].append(self._rule(name.text, group, token))
            else:
                raise self._error(f"syntax error: expected INPA..INPL, RULE or '}}' in ASG({name.text}), "
                                  f"found {self._shown(token)}", token)
        self._next()
        for rule in group["rules"]:
            if rule.calc is not None:
                self._check_calc_inputs(name.text, group, rule)

    def _inp(self, asg: str, group: dict, keyword: Token) -> None:
        letter = keyword.text[3]
        self._expect("(", f"'(' after {keyword.text}")
        pv = self._expect("STRING", f"a PV name in {keyword.text}(...)")
        self._expect(")", f"')' after {keyword.text}({pv.text}")
        if letter in group["inputs"]:
            raise self._error(f"{keyword.text} given twice in ASG({asg})", keyword)
        group["inputs"][letter] = pv.text

    def _rule(self, asg: str, group: dict, keyword: Token) -> Rule:
        self._expect("(", "'(' after RULE")
        level_token = self._expect("INTEGER", "the level (0 or 1) in RULE(level, access)")
        level = int(level_token.text)
        if level not in LEVELS:
            raise self._error(f"RULE level must be 0 or 1, not {level}", level_token)
        self._expect(",", "',' after the RULE level")
        access_token = self._expect("STRING", "NONE, READ or WRITE in RULE(level, access)")
        if access_token.text not in ACCESS_NAMES:
            raise self._error(f"Access rights must be NONE, READ or WRITE, not '{access_token.text}'", access_token)
        trapwrite = False
        if self._peek().kind == ",":
            self._next()
            option = self._expect("STRING", "TRAPWRITE or NOTRAPWRITE after the access")
            if option.text not in ("TRAPWRITE", "NOTRAPWRITE"):
                raise self._error(f"Log options must be TRAPWRITE or NOTRAPWRITE, not '{option.text}'", option)
            trapwrite = option.text == "TRAPWRITE"
        self._expect(")", f"')' closing RULE({level}, {access_token.text}")
        uags: list[str] = []
        hags: list[str] = []
        calc: Calc | None = None
        if self._peek().kind == "{":
            self._next()
            if self._peek().kind == "}":
                raise self._error("syntax error: RULE {} is empty (give UAG, HAG or CALC, or no braces)")
            while self._peek().kind != "}":
                token = self._next()
                if token.kind == "KEYWORD" and token.text in ("UAG", "HAG"):
                    self._expect("(", f"'(' after {token.text}")
                    names = self._name_list(f"{token.text}(...)")
                    self._expect(")", f"')' closing {token.text}(...)")
                    known, found = (self.uags, uags) if token.text == "UAG" else (self.hags, hags)
                    for name in names:
                        if name.text not in known:
                            kind = "User" if token.text == "UAG" else "Host"
                            raise self._error(f"No {kind} Access Group named '{name.text}' defined"
                                              + (" (define it before the ASG that uses it)"), name)
                        found.append(name.text)
                elif token.kind == "KEYWORD" and token.text == "CALC":
                    self._expect("(", "'(' after CALC")
                    text = self._expect("STRING", "a quoted expression in CALC(...)")
                    self._expect(")", "')' closing CALC(...)")
                    if calc is not None:
                        raise self._error("a RULE takes one CALC", token)
                    try:
                        calc = compile_calc(text.text)
                    except CalcError as exc:
                        raise self._error(f"in CALC expression '{text.text}': {exc}", text) from None
                else:
                    raise self._error(f"syntax error: expected UAG, HAG, CALC or '}}' in a RULE, "
                                      f"found {self._shown(token)}", token)
            self._next()
        return Rule(level, ACCESS_NAMES[access_token.text], trapwrite, tuple(uags), tuple(hags), calc,
                    keyword.line)

    def _check_calc_inputs(self, asg: str, group: dict, rule: Rule) -> None:
        calc = rule.calc
        undeclared = sorted(calc.inputs - set(group["inputs"]))
        if not calc.inputs & set(group["inputs"]):
            self._warn(rule.line, f"ASG({asg}): CALC(\"{calc.text}\") reads no declared INP: this rule never "
                                  "applies (epics-base never evaluates it)")
        elif undeclared:
            self._warn(rule.line, f"ASG({asg}): CALC(\"{calc.text}\") reads {', '.join(undeclared)} with no INP: "
                                  "read as 0")


def parse(text: str, *, source: str = "<acf>", substitutions: Mapping[str, str] | str | None = None,
          check_client_ip: bool = True, resolve: Callable[[str], Iterable[str]] = resolve_ipv4) -> AccessConfig:
    """Read an ACF text; ACFError (``source:line: reason``) if it is not valid.

    ``substitutions``: macros (a dict or ``"a=1,b=2"``); ``check_client_ip``: HAG entries
    resolved with ``resolve`` to the addresses a client is matched by (see the module doc)."""
    if isinstance(substitutions, str):
        try:
            substitutions = parse_substitutions(substitutions)
        except ValueError as exc:
            raise ACFError(str(exc), 0, source) from None
    tokens = tokenize(text, source, substitutions)
    return _Reader(tokens, source, check_client_ip, resolve).read()


def load(path: str | Path, **options) -> AccessConfig:
    """:func:`parse` the file at ``path`` (ACFError naming it if it cannot be read)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ACFError(f"cannot read the file: {reason}", 0, str(path)) from None
    return parse(text, source=str(path), **options)


DEFAULT_ACF = Path(__file__).with_name("default.acf")


def main(argv: list[str] | None = None) -> int:
    """``ascheck``: report a file's errors (exit 1) and warnings, or summarise it."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ioc.server.access_security",
                                     description="Check an EPICS access-security (ACF) file, as ascheck does.")
    parser.add_argument("file", type=Path, nargs="?", default=DEFAULT_ACF,
                        help=f"the ACF file (default: the IOC's own, {DEFAULT_ACF.name})")
    parser.add_argument("-S", dest="substitutions", default=None, help='macro substitutions, "a=1,b=2"')
    parser.add_argument("--names", action="store_true",
                        help="match HAG entries as host names (asCheckClientIP off), not resolved addresses")
    args = parser.parse_args(argv)
    try:
        config = load(args.file, substitutions=args.substitutions, check_client_ip=not args.names)
    except ACFError as exc:
        print(exc, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for name, users in config.uags.items():
        print(f"UAG({name}) {{{', '.join(f'{user!r}' for user in sorted(users))}}}")
    for name, entries in config.hag_entries.items():
        print(f"HAG({name}) {{{', '.join(entries)}}} -> {', '.join(sorted(config.hags[name])) or 'nobody'}")
    for group in config.groups.values():
        inputs = " ".join(f"INP{k}({v})" for k, v in sorted(group.inputs.items()))
        print(f"ASG({group.name}) {len(group.rules)} rule(s) {inputs}".rstrip())
    return 0


__all__ = ["ACCESS_NAMES", "DEFAULT", "DEFAULT_ACF", "NONE", "NO_ACCESS", "READ", "WRITE", "ACFError",
           "AccessConfig", "Group", "Rights", "Rule", "load", "parse", "parse_substitutions", "resolve_ipv4",
           "tokenize"]

if __name__ == "__main__":
    sys.exit(main())
