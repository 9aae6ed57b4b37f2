"""``--server URL``: the team's chat server for the sign-in dialog (the installed launcher passes it)."""

from __future__ import annotations

import pytest

import main


def test_server_flag_names_the_chat_server() -> None:
    assert main.parse_args(["--server", "wss://chat.acme.com"]).server == "wss://chat.acme.com"
    assert main.parse_args([]).server is None


@pytest.mark.parametrize("url", ["chat.acme.com", "ftp://chat.acme.com", "wss://"])
def test_server_flag_refuses_what_is_not_a_chat_server_address(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.parse_args(["--server", url])
    assert exited.value.code == 2
    assert "expected ws://host:port or wss://host" in capsys.readouterr().err
