"""Every command-line tool fails the same way on data or checkpoint problems: the message, exit 2, no traceback."""

import pytest

from mnistsum import evaluate, explain, speed, stress, train


@pytest.mark.parametrize(
    "main, argv",
    [
        (train.main, ["--limit", "100"]),
        (evaluate.main, []),
        (stress.main, []),
        (speed.main, []),
    ],
)
def test_missing_data_is_a_message_and_exit_2(main, argv, tmp_path, capsys):
    assert main([*argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST not found") and "Traceback" not in err


@pytest.mark.parametrize("main", [evaluate.main, explain.main, stress.main])
def test_corrupt_weights_are_a_message_and_exit_2(main, tmp_path, capsys, mnist_dir):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["--weights", str(bad), *(["--data-dir", str(mnist_dir)] if main is not explain.main else [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad} is not a readable checkpoint") and "Traceback" not in err


def test_a_bad_setting_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main(["--lr", "0"])
    assert exit_.value.code == 2 and "lr must be > 0" in capsys.readouterr().err
