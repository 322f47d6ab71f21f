"""The CLI's one-line refusals, as the hostile-input tests check them."""
from __future__ import annotations

from mtl_perception.cli import main as cli_main


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI, expect exit code 2, nothing on stdout, one stderr line naming every needle."""
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and "Traceback" not in err, captured
    for needle in needles:
        assert needle in err, err
    return err
