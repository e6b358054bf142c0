"""`pivot commit` records what really happened; a misspelt `python:` module is a load error."""

from __future__ import annotations

from tests.support.factory import Project


def test_commit_records_no_commit_runs_and_refuses_changes_that_never_ran(multi: Project) -> None:
    multi.run("repro", "--all", "-q").ok()
    multi.write("train/pivot.yaml", multi.read("train/pivot.yaml").replace("lr: 0.5", "lr: 0.7"))
    refused = multi.run("commit", "--all")
    assert refused.code == 1, refused
    assert ("not committed 'train' (train/pivot.yaml:2): param changed: lr, and it has not run since"
            in refused.stderr), refused
    assert "run it: pivot repro --all train; or record it as it is: pivot commit --all --force train" in refused.stderr
    assert multi.run("verify", "--all", "-q").code == 1  # the old model does not pass for the new params

    multi.run("repro", "--all", "--no-commit", "-q").ok()
    status = multi.run("status", "--all").ok().stdout
    assert "fix: pivot commit --all train\n" in status and "fix: pivot commit --all tune/train\n" in status
    done = multi.run("commit", "--all").ok()
    assert done.stderr.splitlines() == ["committed 'train'", "committed 'tune/train'", "committed 'tune/report'",
                                        "3 committed"]
    multi.run("verify", "--all", "-q").ok()
    assert "lr=1.4" in multi.read("train/model.txt")  # what ran is what the lock says

    multi.write("tune/helpers.py", 'def tag():\n    return "edited"\n')  # code changed, never ran
    multi.write("prep/clean.txt", "cleaned by hand\n")  # an output changed by hand: recorded
    out = multi.run("commit", "--all")
    assert out.code == 1
    assert out.stderr.splitlines()[:2] == ["committed 'clean'", "committed 'train'"]  # its dep changed by hand
    assert "not committed 'tune/train' (tune/pipeline.py:8): code changed: train, and it has not run since" \
        in out.stderr
    multi.run("commit", "--all", "--force").ok()  # recorded as it is, on request
    multi.run("verify", "--all", "-q").ok()
    assert multi.run("commit", "--all").ok().stderr == "nothing to commit\n"


def test_misspelt_python_module_is_a_load_error_not_a_run_time_traceback(multi: Project) -> None:
    multi.write("train/pivot.yaml", multi.read("train/pivot.yaml").replace("stages:train", "stagse:train"))
    for args in (("status", "--all"), ("repro", "--all")):
        out = multi.run(*args)
        assert out.code == 2 and out.stdout == "", out
        assert out.stderr.splitlines() == [
            "Error: python: module 'stagse' not found (in train/, the project root or the installed packages) "
            "(train/pivot.yaml:3)",
            "Hint: did you mean 'stages'? modules there: helpers, stages"]
    assert not multi.exists("prep/clean.txt")  # nothing ran
