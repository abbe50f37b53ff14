"""EPICS access security (``ioc.server.access_security``, ``ioc.server.calc``): the ACF grammar,
who gets which rights, CALC rules, TRAPWRITE, and the file the IOC ships; checked against
epics-base's own asLib and calc engine (libCom, through ``tests/epics_aslib.py``)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ioc.server import access_security as acf
from ioc.server.calc import CalcError, compile_calc

from . import epics_aslib as base

LOOPBACK = {"localhost": {"127.0.0.1"}, "ws1": {"10.0.0.1"}, "ws2": {"10.0.0.2", "10.0.0.3"}}


def resolve(host: str) -> set[str]:
    """A fixed name service for the tests: the machine's own is not the tests' business."""
    return LOOPBACK.get(host.lower(), {host} if host.replace(".", "").isdigit() else set())


def parse(text: str, **options) -> acf.AccessConfig:
    options.setdefault("resolve", resolve)
    return acf.parse(text, **options)


# -- the grammar ------------------------------------------------------------------------------

GUIDE_EXAMPLE = """\
UAG(op) {op1,op2,superguy}
UAG(opSup) {superguy}
UAG(linac) {waw,nassiri,grelick,berg,fuja,gsm}
UAG(linacSup) {gsm}
UAG(appDev) {nda,kko}
HAG(icr) {silver,phebos,gaea}
HAG(cr) {mars,hera,gold}
HAG(ioc) {ioclic1,ioclic2,ioclid1,ioclid2,ioclid3,ioclid4,ioclid5}
ASG(DEFAULT) {
    INPA(LI:OPSTATE)
    INPB(LI:lev1permit)
    RULE(0,WRITE) {
        UAG(op)
        HAG(icr,cr)
        CALC("A=1")
    }
    RULE(0,WRITE) {
        UAG(op,linac,appDev)
        HAG(icr,cr)
        CALC("A=0")
    }
    RULE(1,WRITE) {
        UAG(opSup,linacSup,appDev)
        CALC("B=1")
    }
    RULE(1,READ)
    RULE(1,WRITE) {
        HAG(ioc)
    }
}
ASG(permit) {
    RULE(0,WRITE) {
        UAG(opSup,linacSup,appDev)
    }
    RULE(1,READ)
    RULE(1,WRITE) {
        HAG(ioc)
    }
}
ASG(critical) {
    INPB(LI:lev1permit)
    RULE(1,WRITE) {
        UAG(opSup,linacSup,appDev)
        CALC("B=1")
    }
    RULE(1,READ)
    RULE(1,WRITE) {
        HAG(ioc)
    }
}
"""


def test_the_guides_linac_example_reads_as_written():
    # (the guide's own text says UAG(appdev) where it defined appDev; asLib refuses that, as we do)
    config = parse(GUIDE_EXAMPLE, check_client_ip=False)
    assert set(config.groups) == {"DEFAULT", "permit", "critical"}
    assert config.uags["op"] == {"op1", "op2", "superguy"}
    assert config.inputs("DEFAULT") == {"A": "LI:OPSTATE", "B": "LI:lev1permit"}
    assert config.inputs("critical") == {"B": "LI:lev1permit"}
    assert config.input_pvs() == {"LI:OPSTATE", "LI:lev1permit"}
    assert sorted(config.groups_reading("LI:lev1permit")) == ["DEFAULT", "critical"]
    rules = config.groups["DEFAULT"].rules
    assert [(r.level, r.access, r.uags, r.hags) for r in rules] == [
        (0, acf.WRITE, ("op",), ("icr", "cr")), (0, acf.WRITE, ("op", "linac", "appDev"), ("icr", "cr")),
        (1, acf.WRITE, ("opSup", "linacSup", "appDev"), ()), (1, acf.READ, (), ()), (1, acf.WRITE, (), ("ioc",))]
    assert [r.line for r in rules] == [12, 17, 22, 26, 27]
    assert base.load(GUIDE_EXAMPLE)
    assert not base.load(GUIDE_EXAMPLE.replace("UAG(op,linac,appDev)", "UAG(op,linac,appdev)"))
    with pytest.raises(acf.ACFError, match="No User Access Group named 'appdev' defined"):
        parse(GUIDE_EXAMPLE.replace("UAG(op,linac,appDev)", "UAG(op,linac,appdev)"))


def test_comments_quoted_strings_and_layout_are_free():
    text = ('# a comment\nUAG( "staff" ) { "o\'brien" , x-ray.user }  # trailing comment\n'
            'HAG(h){"WS1"}\r\n'
            'ASG ( "G" ) { INPA("BL:sim:Permit") RULE ( 1 , WRITE , NOTRAPWRITE ) { UAG(staff) HAG(h) '
            'CALC("A # 0") } }\n')
    config = parse(text, check_client_ip=False)
    assert config.uags["staff"] == {"o'brien", "x-ray.user"}
    assert config.hags["h"] == {"ws1"}  # host names are compared in lower case
    assert config.groups["G"].rules[0].calc.text == "A # 0"  # '#' in a quoted string is no comment
    assert config.rights("G", "o'brien", "WS1", values={"INPA": 2}) == (True, True, False)
    assert base.load(text)


# (text, line, what the reason says, whether epics-base's asLib refuses it too)
BAD_FILES = [
    ("", 1, "defines no UAG, HAG or ASG", True),
    ("\n# almost empty file\n\n", 4, "defines no UAG, HAG or ASG", True),
    ("UAG(a) {x}\nUAG(b) {y}\nHAG(h) {z} $\n", 3, "Invalid character '$'", True),
    ('UAG(a) {x}\nUAG(b) {"unterminated}\n', 2, "Newline in quoted string", True),
    ("UAG(a) {}\n", 1, "expected a name in UAG(a)", True),
    ("UAG(a) {x,}\n", 1, "expected a name after ','", True),
    ("UAG(a) {x y}\n", 1, "expected '}' closing UAG(a)", True),
    ("UAG(123) {x}\n", 1, "expected a name in UAG(...), found '123'", True),
    ("UAG(a) {x}\nUAG(a) {y}\n", 2, "Duplicate User Access Group named 'a'", True),
    ("HAG(h) {x}\n\nHAG(h) {y}\n", 3, "Duplicate Host Access Group named 'h'", True),
    ("ASG(g)\nASG(g)\n", 2, "Duplicate Access Security Group named 'g'", True),
    ("ASG(DEFAULT) {RULE(1,READ)}\nASG(DEFAULT)\n", 2, "Duplicate Access Security Group named 'DEFAULT'", True),
    ("ASG(g) {}\n", 1, "ASG(g) {} is empty", True),
    ("ASG(g) {\n  RULE(1, READ) {UAG(staff)}\n}\nUAG(staff) {x}\n", 2, "No User Access Group named 'staff'", True),
    ("ASG(g) {\n  RULE(1, READ) {HAG(h)}\n}\n", 2, "No Host Access Group named 'h'", True),
    ("ASG(g) {RULE(1, WRITE, LOG)}\n", 1, "Log options must be TRAPWRITE or NOTRAPWRITE", True),
    ("ASG(g) {RULE(one, WRITE)}\n", 1, "the level (0 or 1)", True),
    ("ASG(g) {RULE(1 WRITE)}\n", 1, "',' after the RULE level", True),
    ("ASG(g) {RULE(1, WRITE) {}}\n", 1, "RULE {} is empty", True),
    ("ASG(g) {\nRULE(1, WRITE) {CALC(\"A=\")}\n}\n", 2, "in CALC expression 'A='", True),
    ("ASG(g) {INPA(x) RULE(1, WRITE) {CALC(\"A:=1\")}}\n", 1, "assignment (:=) is not allowed", True),
    ("ASG(g) {RULE(1, WRITE) {UAG()}}\n", 1, "expected a name in UAG(...)", True),
    ("ASG(g) {RULE(1, READ)\n", 2, "found the end of the file", True),
    ("ASG(g) {RULE(1, READ)} }\n", 1, "expected UAG, HAG or ASG, found '}'", True),
    # refused here, taken by asLib (see the module's "Strictness"): base 7.0.9+ warns and ignores
    # what it does not know (forward compatibility), so a typo loses a rule or a group silently
    ("uag(a) {x}\n", 1, "expected UAG, HAG or ASG, found 'uag'", False),
    ("ASG(g) {RULE(1, read)}\n", 1, "Access rights must be NONE, READ or WRITE, not 'read'", False),
    ("ASG(g) {INPM(x)}\n", 1, "expected INPA..INPL, RULE or '}' in ASG(g), found 'INPM'", False),
    ("ASG(g) {RULE(1, WRITE) {USER(x)}}\n", 1, "expected UAG, HAG, CALC or '}' in a RULE, found 'USER'", False),
    ("ASG(g) {RULE(2, WRITE)}\n", 1, "RULE level must be 0 or 1, not 2", False),
    ("ASG(g) {INPA(x)\n INPA(y)}\n", 2, "INPA given twice in ASG(g)", False),
    ("ASG(g) {INPA(x) RULE(1, WRITE) {CALC(\"A=1\") CALC(\"A=2\")}}\n", 1, "a RULE takes one CALC", False),
    ("ASG(g) {INPA(x) RULE(1, WRITE) {CALC(\"VAL=1\")}}\n", 1, "VAL (the rule's previous result)", False),
]


@pytest.mark.parametrize(("text", "line", "reason", "base_refuses"), BAD_FILES)
def test_a_bad_file_is_refused_with_its_line_and_the_reason(text, line, reason, base_refuses):
    with pytest.raises(acf.ACFError) as refused:
        parse(text, source="site.acf")
    assert refused.value.line == line, refused.value
    assert reason in refused.value.reason
    assert str(refused.value).startswith(f"site.acf:{line}: ")
    assert base.load(text) is not base_refuses


def test_load_names_the_file_and_refuses_one_it_cannot_read(tmp_path):
    path = tmp_path / "beamline.acf"
    path.write_text("ASG(DEFAULT) {RULE(1, READ)}\nASG(x) {RULE(1, WRITE) {UAG(nobody)}}\n")
    with pytest.raises(acf.ACFError, match=rf"^{path}:2: No User Access Group named 'nobody'"):
        acf.load(path)
    with pytest.raises(acf.ACFError, match=rf"^{tmp_path / 'missing.acf'}:0: cannot read the file"):
        acf.load(tmp_path / "missing.acf")


def test_what_base_only_logs_is_in_the_warnings():
    config = parse('UAG(u) {ann, ann}\nHAG(h) {nowhere.invalid}\n'
                   'ASG(g) {INPA(pv) RULE(1, WRITE) {CALC("B=1")} RULE(1, READ) {CALC("A+B")}}\n')
    text = "\n".join(config.warnings)
    assert "<acf>:1: Duplicated user 'ann' in UAG 'u'" in text
    assert "<acf>:2: HAG(h): host 'nowhere.invalid' does not resolve" in text
    assert "<acf>:3: ASG(g): CALC(\"B=1\") reads no declared INP: this rule never applies" in text
    assert "ASG(g): CALC(\"A+B\") reads B with no INP: read as 0" in text
    assert "ASG(DEFAULT) has no rules" in text


def test_macros_are_substituted_before_reading_as_aslib_does():
    text = 'UAG(staff) {"$(IOC_USER)", ${OTHER=guest}}  # $(NOT_DEFINED) in a comment is left alone\n' \
           'ASG(g) {INPA("$(P)sim:Permit") RULE(1, WRITE) {UAG(staff) CALC("A=1")}}\n'
    config = parse(text, substitutions="IOC_USER=ann, P=BL:")
    assert config.uags["staff"] == {"ann", "guest"}
    assert config.inputs("g") == {"A": "BL:sim:Permit"}
    with pytest.raises(acf.ACFError, match=r"^<acf>:2: macro \$\(P\) is not defined \(defined: IOC_USER\)"):
        parse(text, substitutions={"IOC_USER": "ann"})
    with pytest.raises(acf.ACFError, match=r"^<acf>:1: Invalid character '\$'"):
        parse(text)  # no substitutions: as asInitMem without asSetSubstitutions
    with pytest.raises(acf.ACFError, match="substitution 'IOC_USER' is not NAME=VALUE"):
        parse(text, substitutions="IOC_USER")


# -- rights -------------------------------------------------------------------------------------

RULES = """\
UAG(staff) {ann}
UAG(users) {ann, bob}
HAG(beamline) {localhost, ws2}
ASG(DEFAULT) {RULE(1, READ)}
ASG(levels) {
    RULE(1, READ)
    RULE(0, WRITE) {UAG(users)}
    RULE(1, WRITE, TRAPWRITE) {UAG(staff)}
}
ASG(hosts) {
    RULE(0, READ) {HAG(beamline)}
    RULE(1, WRITE) {UAG(staff) HAG(beamline)}
}
ASG(none) {RULE(1, NONE)}
ASG(trap) {
    RULE(1, WRITE, TRAPWRITE) {UAG(staff)}
    RULE(1, WRITE) {UAG(users)}
}
ASG(notrap_first) {
    RULE(1, WRITE) {UAG(users)}
    RULE(1, WRITE, TRAPWRITE) {UAG(staff)}
}
"""


def test_levels_users_hosts_and_trapwrite():
    config = parse(RULES)
    rw, ro, no = (True, True, False), (True, False, False), (False, False, False)
    # level: a RULE of level 1 covers ASL0 and ASL1 fields, one of level 0 only ASL0
    assert config.rights("levels", "bob", "127.0.0.1", asl=0) == rw
    assert config.rights("levels", "bob", "127.0.0.1", asl=1) == ro
    assert config.rights("levels", "ann", "127.0.0.1", asl=0) == rw  # the first WRITE rule that applies: no trap
    assert config.rights("levels", "ann", "127.0.0.1", asl=1) == (True, True, True)
    assert config.rights("levels", "eve", "127.0.0.1", asl=0) == ro
    # hosts: by address (ws2 has two), user and host both required where both are given
    assert config.rights("hosts", "ann", "127.0.0.1") == rw
    assert config.rights("hosts", "ann", "10.0.0.3") == rw
    assert config.rights("hosts", "ann", "10.0.0.1") == no
    assert config.rights("hosts", "bob", "127.0.0.1") == ro
    assert config.rights("hosts", "ann", "localhost") == no  # a name is not an address
    assert config.rights("hosts", "bob", "127.0.0.1", asl=1) == no  # RULE(0, READ) leaves ASL1 unreadable
    # NONE grants nothing; unknown and empty group names mean DEFAULT
    assert config.rights("none", "ann", "127.0.0.1") == no
    assert config.rights("no such group", "eve", "10.9.9.9") == ro
    assert config.rights(None, "eve", "10.9.9.9") == config.rights("", "eve", "10.9.9.9") == ro
    # TRAPWRITE: from the first WRITE rule that applies
    assert config.rights("trap", "ann", "127.0.0.1") == (True, True, True)
    assert config.rights("trap", "bob", "127.0.0.1") == rw
    assert config.rights("notrap_first", "ann", "127.0.0.1") == rw


def test_host_names_when_client_ip_is_not_checked():
    config = parse(RULES, check_client_ip=False)
    assert config.hags["beamline"] == {"localhost", "ws2"}
    assert config.rights("hosts", "ann", "LocalHost") == (True, True, False)
    assert config.rights("hosts", "ann", "127.0.0.1") == (False, False, False)


def test_users_added_at_load_time():
    config = parse(RULES)
    assert config.rights("trap", "carol", "127.0.0.1").write is False
    assert config.with_users("staff", "carol").rights("trap", "carol", "127.0.0.1") == (True, True, True)
    assert config.rights("trap", "carol", "127.0.0.1").write is False  # the original is unchanged
    with pytest.raises(KeyError, match="no UAG named 'admins'"):
        config.with_users("admins", "carol")


def test_a_file_without_default_leaves_other_pvs_inaccessible_as_in_base():
    text = "ASG(open) {RULE(1, WRITE)}\n"
    config = parse(text)
    assert config.rights("open", "x", "1.2.3.4") == (True, True, False)
    assert config.rights("elsewhere", "x", "1.2.3.4") == (False, False, False)
    assert base.load(text) and base.rights("elsewhere", "x", "1.2.3.4") == (False, False, False)


@pytest.mark.parametrize("text", [RULES, GUIDE_EXAMPLE])
def test_every_combination_agrees_with_aslib(text):
    config = parse(text, check_client_ip=False)
    assert base.load(text)
    users = ["ann", "bob", "eve", "superguy", "gsm", "op1", "nda"]
    hosts = ["localhost", "WS2", "ws1", "mars", "silver", "ioclic1", "elsewhere"]
    checked = 0
    for asg in config.groups:
        for values in ({"A": 1.0, "B": 1.0}, {"A": 0.0, "B": None}, {"A": None, "B": 0.0}):
            if config.groups[asg].inputs:
                base.set_inputs(asg, {k: v for k, v in values.items() if k in config.groups[asg].inputs})
            ours = {f"INP{k}": v for k, v in values.items()}
            for user in users:
                for host in hosts:
                    for asl in (0, 1):
                        assert config.rights(asg, user, host, asl, ours) == base.rights(asg, user, host, asl), \
                            (asg, user, host, asl, values)
                        checked += 1
    assert checked > 500


# -- CALC rules ---------------------------------------------------------------------------------

PERMIT = """\
UAG(users) {ann}
ASG(DEFAULT) {RULE(1, READ)}
ASG(motors) {
    INPA("BL:sim:Permit")
    INPB("BL:ring:current")
    RULE(1, READ)
    RULE(1, WRITE, TRAPWRITE) {UAG(users) CALC("A=1 && B>10")}
}
"""


def test_a_calc_rule_flips_with_its_inputs():
    config = parse(PERMIT)
    group = config.group("motors")
    assert config.input_pvs() == {"BL:sim:Permit", "BL:ring:current"}
    write = [config.rights("motors", "ann", "127.0.0.1", values=group.values_from(pvs)).write
             for pvs in ({"BL:sim:Permit": 1, "BL:ring:current": 500.0},
                         {"BL:sim:Permit": 0, "BL:ring:current": 500.0},
                         {"BL:sim:Permit": 1, "BL:ring:current": 0.0},
                         {"BL:sim:Permit": 1, "BL:ring:current": None},  # INVALID or disconnected
                         {"BL:sim:Permit": 1.005, "BL:ring:current": 500.0},  # 0.99 < A=1 ... no: A=1 is 0
                         {"BL:sim:Permit": 1})]  # an input never heard from
    assert write == [True, False, False, False, False, False]
    assert config.rights("motors", "bob", "127.0.0.1", values={"INPA": 1, "INPB": 500}) == (True, False, False)
    assert config.rights("motors", "ann", "127.0.0.1", values={"INPA": 1, "INPB": 500}).trapwrite


@pytest.mark.parametrize(("calc", "values", "true"), [
    ("A", {"A": 1.0}, True), ("A", {"A": 1.009}, True), ("A", {"A": 0.99}, False), ("A", {"A": 2.0}, False),
    ("A", {"A": math.nan}, False), ("A+B", {"A": 1.0}, True),  # B undeclared: 0
    ("B", {"A": 1.0}, False),  # reads no declared input: never evaluated
    ("1", {"A": 1.0}, False),
])
def test_calc_truth_is_base_s(calc, values, true):
    text = f'ASG(DEFAULT) {{RULE(1, READ)}}\nASG(g) {{INPA(pv) RULE(1, WRITE) {{CALC("{calc}")}}}}\n'
    config = parse(text)
    assert config.rights("g", "u", "h", values={f"INP{k}": v for k, v in values.items()}).write is true
    assert base.load(text)
    base.set_inputs("g", values)
    assert base.rights("g", "u", "h")[1] is true


# -- property-based: random files against asLib -----------------------------------------------

NAMES = ["ann", "bob", "eve"]
HOSTS = ["localhost", "ws1", "WS2"]
CALCS = ["A=1", "A>0 && B<2", "B", "A#B", "MAX(A,B)=1", "!A", "A ? B : 1"]


@st.composite
def acf_files(draw) -> str:
    uags = {f"u{i}": draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True)) for i in range(2)}
    hags = {f"h{i}": draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2, unique=True)) for i in range(2)}
    lines = [f"UAG({n}) {{{', '.join(users)}}}" for n, users in uags.items()]
    lines += [f"HAG({n}) {{{', '.join(hosts)}}}" for n, hosts in hags.items()]
    rules = []
    for _ in range(draw(st.integers(1, 5))):
        head = f"RULE({draw(st.sampled_from([0, 1]))}, {draw(st.sampled_from(['NONE', 'READ', 'WRITE']))}"
        head += draw(st.sampled_from(["", ", TRAPWRITE", ", NOTRAPWRITE"])) + ")"
        body = []
        if draw(st.booleans()):
            body.append(f"UAG({', '.join(draw(st.lists(st.sampled_from(list(uags)), min_size=1, unique=True)))})")
        if draw(st.booleans()):
            body.append(f"HAG({', '.join(draw(st.lists(st.sampled_from(list(hags)), min_size=1, unique=True)))})")
        if draw(st.booleans()):
            body.append(f'CALC("{draw(st.sampled_from(CALCS))}")')
        rules.append(head + (f" {{{' '.join(body)}}}" if body else ""))
    inputs = draw(st.sampled_from(["INPA(pva)", "INPA(pva) INPB(pvb)", "INPB(pvb)", ""]))
    default = draw(st.sampled_from(["ASG(DEFAULT) {RULE(1, READ)}", ""]))
    return "\n".join([*lines, default, f"ASG(g) {{ {inputs} {' '.join(rules)} }}", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=acf_files(), user=st.sampled_from([*NAMES, "zed"]), host=st.sampled_from([*HOSTS, "ws9"]),
       asl=st.sampled_from([0, 1]), asg=st.sampled_from(["g", "DEFAULT", "other"]),
       a=st.sampled_from([None, 0.0, 1.0, 2.0]), b=st.sampled_from([None, 0.0, 1.0]))
def test_random_files_give_the_rights_aslib_gives(text, user, host, asl, asg, a, b):
    config = parse(text, check_client_ip=False)
    assert base.load(text), text
    declared = config.groups["g"].inputs
    inputs = {k: v for k, v in {"A": a, "B": b}.items() if k in declared}
    if inputs:
        base.set_inputs("g", inputs)
    values = {f"INP{k}": v for k, v in inputs.items()}
    assert config.rights(asg, user, host, asl, values) == base.rights(asg, user, host, asl), text


# -- the CALC engine against calcPerform -------------------------------------------------------

LEAVES = st.one_of(
    st.sampled_from(list("ABCDEFGHIJKL") + list("abc") + ["PI", "D2R", "R2D", "INF", "NAN", "nan"]),
    st.integers(0, 40).map(str), st.sampled_from(["0.5", ".25", "1e3", "2.5E-1", "0x10", "0xFFFFFFFF", "3."]),
)
UNARY = ["-", "!", "~", "NOT ", "ABS", "SQRT", "SQR", "EXP", "LN", "LOG", "LOGE", "FLOOR", "CEIL", "NINT", "SIN",
         "COS", "TAN", "ASIN", "ACOS", "ATAN", "SINH", "COSH", "TANH", "ISINF"]
BINARY = ["+", "-", "*", "/", "%", "^", "**", "=", "==", "!=", "#", "<", "<=", ">", ">=", "&&", "||", "&", "|",
          " AND ", " OR ", " XOR ", "<<", ">>", ">>>"]


def _expressions(children):
    return st.one_of(
        st.builds(lambda op, x: f"{op}({x})" if op.isalpha() else f"{op}{x}", st.sampled_from(UNARY), children),
        st.builds(lambda x, op, y, paren: f"({x}{op}{y})" if paren else f"{x}{op}{y}", children,
                  st.sampled_from(BINARY), children, st.booleans()),
        st.builds(lambda x, y, z: f"({x} ? {y} : {z})", children, children, children),
        st.builds(lambda fn, args: f"{fn}({', '.join(args)})", st.sampled_from(["MAX", "MIN", "ISNAN", "FINITE"]),
                  st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda fn, x, y: f"{fn}({x}, {y})", st.sampled_from(["ATAN2", "FMOD"]), children, children),
    )


EXPRESSIONS = st.recursive(LEAVES, _expressions, max_leaves=8)
ARGS = st.lists(st.one_of(st.integers(-5, 5).map(float), st.floats(allow_nan=True, allow_infinity=True, width=32)),
                min_size=12, max_size=12)


@settings(max_examples=400, deadline=None)
@given(expression=EXPRESSIONS, args=ARGS)
@example(expression="F<<A", args=[-1.0, 0, 0, 0, 0, -2.0] + [0.0] * 6)  # -2 << 31 wraps to 0 in 32 bits
def test_calc_gives_what_calcperform_gives(expression, args):
    expected = base.calc(expression, args)
    assert expected is not None, expression
    got = compile_calc(expression)(args)
    assert base.same(got, expected), (expression, args, got, expected)


SOUP = st.lists(st.sampled_from(["A", "b", "1", "2.5", "+", "-", "*", "(", ")", ",", "?", ":", "MAX", "ABS",
                                 "<", "=", "&&", "!", " ", "ATAN2", "0x", "e"]), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(expression=SOUP)
def test_calc_refuses_what_postfix_refuses(expression):
    expected = base.calc(expression, [1.0] * 12)  # None: postfix or calcPerform refuses it
    try:
        got = compile_calc(expression)([1.0] * 12)
    except CalcError:
        got = None
    assert (got is None) == (expected is None), (expression, got, expected)
    if got is not None:
        assert base.same(got, expected)


def test_calc_refusals_say_where_and_why():
    for text, message in [("A:=1", "assignment (:=) is not allowed"), ("A;B", "';' separates"),
                          ("RNDM>0.5", "RNDM (a random number)"), ("MAX()", "MAX() needs at least one argument"),
                          ("A>", "expected an operand, found the end at character 3"),
                          ("(A", "'(' without ')' at character 1"), ("AB", "'B' is not an operator"),
                          ("ATAN2(A)", "ATAN2 takes 2 arguments, not 1"), ("", "empty expression")]:
        with pytest.raises(CalcError, match=re_escape(message)):
            compile_calc(text)


def re_escape(text: str) -> str:
    import re
    return re.escape(text)


# -- the file the IOC ships ---------------------------------------------------------------------


def test_the_shipped_file_staff_users_hosts():
    config = acf.load(acf.DEFAULT_ACF, substitutions={"IOC_USER": "ann", "P": "BL:"}, resolve=resolve)
    assert not config.warnings
    here, elsewhere = "127.0.0.1", "10.0.0.99"
    expect = {  # (group, user, host): (read, write, trapwrite)
        ("SIMULATION", "ann", here): (True, True, True), ("SIMULATION", "bob", here): (True, False, False),
        ("SIMULATION", "ann", elsewhere): (True, False, False),
        ("HARDWARE", "ann", here): (True, True, False), ("HARDWARE", "bob", here): (True, True, False),
        ("HARDWARE", "bob", elsewhere): (True, False, False),
        ("DEFAULT", "ann", here): (True, True, True), ("DEFAULT", "bob", here): (True, False, False),
        ("DEFAULT", "bob", elsewhere): (True, False, False),
    }
    for (group, user, host), rights in expect.items():
        for asl in (0, 1):
            assert config.rights(group, user, host, asl) == rights, (group, user, host, asl)
    with pytest.raises(acf.ACFError, match=r"macro \$\(IOC_USER\) is not defined"):
        acf.load(acf.DEFAULT_ACF, substitutions={})


def test_every_record_carries_its_sections_group():
    """Motors and every areaDetector record (driver, plugins, their overlays and regions) HARDWARE;
    sim: SIMULATION; the ring current DEFAULT: no record left out of its group."""
    from ioc.beamline import build_ioc

    ioc = build_ioc("BL:")
    ioc.add_mini_beamline("mini:")
    ioc.enforce_access_security()
    pvdb = ioc.pvdb
    section = {"BL:dot:": "HARDWARE", "BL:mtr:": "HARDWARE", "mini:": "HARDWARE", "BL:sim:": "SIMULATION",
               "BL:ring:": ""}
    wrong = {name: channel.asg for name, channel in pvdb.items()
             if channel.asg != next(g for s, g in section.items() if name.startswith(s))}
    assert not wrong, f"{len(wrong)} PVs in another group than their section's, e.g. {sorted(wrong.items())[:5]}"
    assert pvdb["BL:dot:Over1:8:Use"].asg == pvdb["BL:dot:ROIStat1:8:Total_RBV"].asg == "HARDWARE"


@pytest.mark.parametrize("name", ["mini_beamline", "ophyd_tests", "dodal_adsim"])
def test_every_configured_record_carries_its_devices_group(name, tmp_path):
    """Each IOC of a shipped configuration, built as ``beamline-ioc --config NAME --ioc IOC``
    builds it: every PV belongs to a device the file declares, and carries that device's group,
    as the default beamline's do: motors, cameras (JPEG1:, netCDF1:... too), point detectors
    HARDWARE; the sim controls and the access security controls SIMULATION; a ring current
    record DEFAULT (the mini_beamline example's plain current HARDWARE, as with --mini-beamline)."""
    from beamline_shared import config
    from ioc.beamline import BeamlineIOC, shipped

    beamline = shipped(name)
    for spec in beamline.iocs:
        ioc = BeamlineIOC([spec], data_root=tmp_path)
        access = ioc.enforce_access_security()
        assert access.substitutions["P"] == spec.prefix
        entries = [e for e in config.device_pvs(beamline) if e.ioc == spec.name]
        entries.sort(key=lambda e: e.kind != "record")  # the access security records before the sim prefix
        wrong, undeclared = {}, []
        for pv, channel in ioc.pvdb.items():
            entry = next((e for e in entries if e.covers(pv)), None)
            if entry is None:
                undeclared.append(pv)
                continue
            group = ("SIMULATION" if entry.device in ("sim", "access_security")
                     else "" if spec.ring is not None and entry.name == spec.ring.pv and spec.ring.layout == "record"
                     else "HARDWARE")
            if channel.asg != group:
                wrong[pv] = (channel.asg, group)
        assert not undeclared, f"{spec.name}: {len(undeclared)} PVs of no declared device, e.g. {undeclared[:5]}"
        assert not wrong, f"{spec.name}: {len(wrong)} PVs in another group than their device's " \
                          f"(served, expected), e.g. {sorted(wrong.items())[:5]}"
        controls = spec.access_security.prefix
        assert ioc.pvdb[controls + "ACFReload"].asg == "SIMULATION", controls
        assert controls == (spec.sim.prefix if spec.sim is not None else spec.prefix + "acf:")


def test_ascheck_command(tmp_path, capsys):
    assert acf.main(["-S", "IOC_USER=ann,P=BL:", str(acf.DEFAULT_ACF)]) == 0
    out = capsys.readouterr().out
    assert "UAG(staff) {'ann'}" in out and "ASG(SIMULATION) 2 rule(s)" in out
    bad = tmp_path / "bad.acf"
    bad.write_text("ASG(DEFAULT) {\n  RULE(1, WRITE) {HAG(nowhere)}\n}\n")
    assert acf.main([str(bad)]) == 1
    assert capsys.readouterr().err.strip() == f"{bad}:2: No Host Access Group named 'nowhere' defined " \
                                              "(define it before the ASG that uses it)"
