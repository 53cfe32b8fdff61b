"""Argument parsing and explicit ``{name}`` expansion, through the real shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from agui_state.jupyter.magics.expand import UndefinedNameError, expand
from agui_state.jupyter.magics.parsing import SUBCOMMANDS, parse, parse_meta
from tests.jupyter.magics.conftest import Shell


def test_expand_rules() -> None:
    ns = {"i": 3, "name": "tea", "flag": True, "doc": {"a": [1]}, "nothing": None}
    assert expand("/items/{i}/{name}", ns) == "/items/3/tea"
    assert expand("{flag} {doc} {nothing}", ns) == 'true {"a": [1]} null'
    assert expand("/defs/$ref {{i} {{", ns) == "/defs/$ref {i} {"
    assert expand('{"a": {"b": 1}}', ns) == '{"a": {"b": 1}}'  # JSON passes through
    with pytest.raises(UndefinedNameError, match=r"\{missing\}"):
        expand("/x/{missing}", ns)


def test_dollar_is_never_expanded(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    ip.run('%state set /defs {"$ref": "dollar", "ref": "plain", "{{ref}": "braced"}')
    ip.ns["ref"] = "ref"
    assert ip.run("%state get /defs/$ref") == "dollar"
    assert ip.run("%state get /defs/{ref}") == "plain"  # explicit {name}: expanded
    assert ip.run("%state get /defs/{{ref}") == "braced"  # {{: a literal brace


def test_undefined_name_is_a_usage_error(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    with pytest.raises(UsageError, match=r"\{nope\} names no variable"):
        ip.run("%state get /a/{nope}")


def test_cell_body_is_expanded_too(ip: Shell, file_url: str) -> None:
    ip.run(f"%state connect {file_url}")
    ip.ns["total"] = 9.5
    ip.run('%%state patch\n[{"op": "add", "path": "/total", "value": {total}}]')
    assert ip.run("%state get /total") == 9.5


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_help_prints_usage_and_does_nothing(
    name: str, ip: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ip.run(f"%state {name} --help") is None
    out = capsys.readouterr().out
    assert f"usage: %state {name}" in out
    assert SUBCOMMANDS[name][0] in out
    assert len(ip.magic.connections) == 0  # nothing ran: not even an auto-connect


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_bad_option_raises_usage_error_with_usage_line(name: str, ip: Shell) -> None:
    with pytest.raises(UsageError) as info:
        ip.run(f"%state {name} --no-such-option")
    text = str(info.value)
    assert text.startswith(f"usage: %state {name}")
    assert "--no-such-option" in text or "arguments are required" in text


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("get --version -1", "must be >= 0"),
        ("states --limit zero", "expected an integer"),
        ("connect", "the following arguments are required: url"),
        ("set /a", "the following arguments are required: JSON"),
        ("diff", "required: A"),
        ("restore", "required: SNAPSHOT_ID"),
        ('get "/unbalanced', "No closing quotation"),
    ],
)
def test_usage_errors(line: str, fragment: str, ip: Shell) -> None:
    with pytest.raises(UsageError, match=fragment):
        ip.run(f"%state {line}")


def test_unknown_subcommand_lists_the_known_ones(ip: Shell) -> None:
    with pytest.raises(UsageError, match="unknown subcommand 'frobnicate'") as info:
        ip.run("%state frobnicate")
    assert "migrate" in str(info.value)


def test_bare_state_prints_the_overview(ip: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    assert ip.run("%state") is None
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"  {name} " in out


def test_set_takes_the_rest_of_the_line_verbatim() -> None:
    cmd = parse('set --meta who="a b" --run-id r1 "/a b" {"x": "two  spaces", "y": [1, 2]}')
    assert cmd is not None
    assert cmd.args.pointer == "/a b"
    assert cmd.args.value == '{"x": "two  spaces", "y": [1, 2]}'
    assert parse_meta(cmd.args.meta, cmd.args.run_id) == {"who": "a b", "run_id": "r1"}
    negative = parse("set /n -1e3")
    assert negative is not None and negative.args.value == "-1e3"


def test_meta_values_are_json_when_they_parse() -> None:
    assert parse_meta(["n=3", "ok=true", "s=text"], None) == {"n": 3, "ok": True, "s": "text"}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_meta(["novalue"], None)


def test_cell_body_only_for_patch(ip: Shell) -> None:
    with pytest.raises(UsageError, match="takes no cell body"):
        ip.run("%%state get /a\nsomething")
