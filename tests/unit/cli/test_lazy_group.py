"""The lazy command group lists commands from a table: the table must say what the commands say."""

from __future__ import annotations

import click
import pytest

from pivot_ci.cli import COMMANDS, SHORT_HELP, cli


def _real(name: str) -> click.Command:
    found = cli.get_command(click.Context(cli), name)
    assert found is not None, name
    return found


def test_the_table_names_every_command_and_only_them() -> None:
    assert sorted(SHORT_HELP) == sorted(COMMANDS) == cli.list_commands(click.Context(cli))
    for name in COMMANDS:
        assert _real(name).name == name and not _real(name).hidden and not _real(name).deprecated


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_short_help_is_the_commands_own_at_every_width(name: str) -> None:
    real, stand_in = _real(name), click.Command(name, help=SHORT_HELP[name])
    for limit in (*range(8, 140), 45, 10_000):
        assert stand_in.get_short_help_str(limit) == real.get_short_help_str(limit), (name, limit)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 200])
def test_the_listing_is_clicks_own_listing_of_the_real_commands(width: int) -> None:
    ctx = click.Context(cli, info_name="pivot", terminal_width=width, max_content_width=width)
    lazy, plain = ctx.make_formatter(), ctx.make_formatter()
    cli.format_commands(ctx, lazy)
    click.Group.format_commands(cli, ctx, plain)  # click's: imports every command to ask it
    assert lazy.getvalue() == plain.getvalue() and "status" in lazy.getvalue()


@pytest.mark.parametrize("incomplete", ["", "s", "re", "x", "--"])
def test_completing_a_command_name_is_clicks_own_completion(incomplete: str) -> None:
    ctx = click.Context(cli, info_name="pivot")
    got = [(c.value, c.help) for c in cli.shell_complete(ctx, incomplete)]
    expected = [(c.value, c.help) for c in click.Group.shell_complete(cli, ctx, incomplete)]
    assert got == expected
    assert bool(got) == (incomplete != "x")


def test_the_cli_s_copies_of_engine_names_match_the_engine() -> None:
    """Values the CLI spells out so that `--help` need not import the engine."""
    from pivot_ci.cli import common, repro_cmd
    from pivot_ci.engine.repro import Outcome
    from pivot_ci.state.cache import LinkMode

    assert tuple(m.value for m in LinkMode) == common.LINK_MODES
    assert sorted(repro_cmd.COUNTED) == sorted(o.name for o in Outcome)
