"""Code fingerprints: real source trees on disk, parsed and never imported."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pivot_ci.engine import fingerprint, pysource
from pivot_ci.errors import ConfigError


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def fp(root: Path, rel: str, qualname: str = "train") -> str:
    """Fingerprint with a fresh Fingerprinter and the usual search path (pipeline dir, then project root)."""
    file = root / rel
    return fingerprint.Fingerprinter(root).function(file, qualname, [file.parent, root])


STAGE = """\
    import helpers

    def train(x):
        return helpers.f(x) + 1
"""

HELPERS = """\
    def f(x):
        return x * 2

    def g(x):
        return x - 1
"""


def test_comments_docstrings_and_formatting_do_not_change_fingerprint(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "def train(x, y):\n    return x+y\n")
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", '''\
        """Module docstring."""
        # a comment
        def train(
            x,
            y,
        ):
            """Train docstring."""
            return (x +   y)  # add
    ''')
    assert fp(tmp_path, "stages.py") == before


def test_body_change_changes_fingerprint(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "def train(x):\n    return x + 1\n")
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", "def train(x):\n    return x + 2\n")
    assert fp(tmp_path, "stages.py") != before


def test_unrelated_function_in_same_file_does_not_count(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "def train(x):\n    return x\n\ndef other():\n    return 1\n")
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", "def train(x):\n    return x\n\ndef other():\n    return 2\n")
    assert fp(tmp_path, "stages.py") == before


def test_same_file_helper_change_changes_fingerprint(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "def helper(x):\n    return x\n\ndef train(x):\n    return helper(x)\n")
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", "def helper(x):\n    return -x\n\ndef train(x):\n    return helper(x)\n")
    assert fp(tmp_path, "stages.py") != before


IMPORT_STYLES = {
    "import_module": ({"stages.py": STAGE}, "stages.py", "helpers.py"),
    "from_import": ({"stages.py": "from helpers import f\n\ndef train(x):\n    return f(x)\n"},
                    "stages.py", "helpers.py"),
    "relative_package": ({"app/__init__.py": "",
                          "app/stages.py": "from .pkg import f\n\ndef train(x):\n    return f(x)\n",
                          "app/pkg/__init__.py": "from .core import f, g\n"},
                         "app/stages.py", "app/pkg/core.py"),
    "dotted_as": ({"stages.py": "import pkg.mod as m\n\ndef train(x):\n    return m.f(x)\n",
                   "pkg/__init__.py": ""},
                  "stages.py", "pkg/mod.py"),
    "dotted_chain_namespace": ({"stages.py": "import pkg.mod\n\ndef train(x):\n    return pkg.mod.f(x)\n"},
                               "stages.py", "pkg/mod.py"),
    "function_local_import": ({"stages.py": "def train(x):\n    from helpers import f\n    return f(x)\n"},
                              "stages.py", "helpers.py"),
}


@pytest.mark.parametrize("style", sorted(IMPORT_STYLES))
def test_helper_in_other_module_counts_but_its_neighbours_do_not(tmp_path: Path, style: str) -> None:
    files, stage, helper = IMPORT_STYLES[style]
    for rel, text in files.items():
        write(tmp_path, rel, text)
    write(tmp_path, helper, HELPERS)
    before = fp(tmp_path, stage)
    write(tmp_path, helper, HELPERS.replace("x - 1", "x - 100"))
    assert fp(tmp_path, stage) == before
    write(tmp_path, helper, HELPERS.replace("x * 2", "x * 3"))
    assert fp(tmp_path, stage) != before


def test_star_import_follows_only_the_name_used(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "from helpers import *\nfrom os.path import *\n\ndef train(x):\n    return f(x)\n")
    write(tmp_path, "helpers.py", HELPERS)
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "helpers.py", HELPERS.replace("x - 1", "x - 100"))
    assert fp(tmp_path, "stages.py") == before
    write(tmp_path, "helpers.py", HELPERS.replace("x * 2", "x * 3"))
    assert fp(tmp_path, "stages.py") != before


def test_module_passed_as_value_counts_whole(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "import helpers\n\ndef train(run):\n    return run(helpers)\n")
    write(tmp_path, "helpers.py", HELPERS)
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "helpers.py", HELPERS.replace("x - 1", "x - 100"))
    assert fp(tmp_path, "stages.py") != before


def test_stage_reexported_from_another_module_follows_the_import(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/stages.py", "from .impl import train\n")
    write(tmp_path, "pkg/impl.py", "def train():\n    return 1\n")
    before = fp(tmp_path, "pkg/stages.py")
    write(tmp_path, "pkg/impl.py", "def train():\n    return 2\n")
    assert fp(tmp_path, "pkg/stages.py") != before


def test_very_long_expression_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "def train(x):\n    return " + " + ".join(["x"] * 1200) + "\n")
    assert fp(tmp_path, "stages.py")


def test_module_constant_change_changes_fingerprint(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "RATE: float = 0.1\nSCALE = RATE * 2\n\ndef train(x):\n    return x * SCALE\n")
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", "RATE: float = 0.2\nSCALE = RATE * 2\n\ndef train(x):\n    return x * SCALE\n")
    assert fp(tmp_path, "stages.py") != before


def test_class_method_change_counts_when_class_is_used(tmp_path: Path) -> None:
    source = """\
        class Model:
            def fit(self, x):
                return x + 1

        def train(x):
            return Model().fit(x)
    """
    write(tmp_path, "stages.py", source)
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", source.replace("x + 1", "x + 2"))
    assert fp(tmp_path, "stages.py") != before


def test_method_qualname_is_fingerprinted_and_distinct(tmp_path: Path) -> None:
    source = "class Model:\n    def fit(self):\n        return 1\n\n    def predict(self):\n        return 2\n"
    write(tmp_path, "stages.py", source)
    fit = fp(tmp_path, "stages.py", "Model.fit")
    assert fit != fp(tmp_path, "stages.py", "Model.predict")
    write(tmp_path, "stages.py", source.replace("return 1", "return 10"))
    assert fp(tmp_path, "stages.py", "Model.fit") != fit


def test_recursion_and_mutual_recursion_terminate(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", """\
        from helpers import ping

        def train(n):
            return train(n - 1) if n else ping(3)
    """)
    write(tmp_path, "helpers.py", """\
        import stages

        def ping(n):
            return pong(n - 1) if n else stages.train(0)

        def pong(n):
            return ping(n)
    """)
    assert len(fp(tmp_path, "stages.py")) == 32


def test_local_names_shadowing_globals_are_not_references(tmp_path: Path) -> None:
    source = """\
        def helper():
            return 1

        def train(helper, items):
            total = [helper(i) for i in items]
            return total
    """
    write(tmp_path, "stages.py", source)
    before = fp(tmp_path, "stages.py")
    write(tmp_path, "stages.py", source.replace("return 1", "return 2"))
    assert fp(tmp_path, "stages.py") == before


def test_external_imports_contribute_only_their_names(tmp_path: Path) -> None:
    # A broken package inside a venv in the project must never be read or imported
    # (a name no other test imports, so the check holds whatever ran before in this worker).
    write(tmp_path, ".venv/lib/site-packages/pivot_fp_extlib/__init__.py", "def mean(:\n")
    source = """\
        import os.path
        import pivot_fp_extlib as np

        def train(x):
            return np.mean(x), os.path.join("a", "b")
    """
    write(tmp_path, "stages.py", source)
    file = tmp_path / "stages.py"
    search = [tmp_path, tmp_path / ".venv/lib/site-packages"]
    before = fingerprint.Fingerprinter(tmp_path).function(file, "train", search)
    write(tmp_path, "stages.py", source.replace("np.mean", "np.median"))
    assert fingerprint.Fingerprinter(tmp_path).function(file, "train", search) != before
    assert "pivot_fp_extlib" not in sys.modules


def test_pipelines_in_two_dirs_resolve_their_own_helpers(tmp_path: Path) -> None:
    for name, body in (("a", "x + 1"), ("b", "x + 2")):
        write(tmp_path, f"{name}/helpers.py", f"def f(x):\n    return {body}\n")
        write(tmp_path, f"{name}/stages.py", "import helpers\n\ndef train(x):\n    return helpers.f(x)\n")
    shared = fingerprint.Fingerprinter(tmp_path)

    def both(fper: fingerprint.Fingerprinter) -> tuple[str, str]:
        return tuple(  # type: ignore[return-value]
            fper.function(tmp_path / d / "stages.py", "train", [tmp_path / d, tmp_path]) for d in "ba")

    b_first, a_second = both(shared)
    assert a_second == fp(tmp_path, "a/stages.py")
    assert b_first == fp(tmp_path, "b/stages.py")
    write(tmp_path, "a/helpers.py", "def f(x):\n    return x + 1000\n")
    b_after, a_after = both(shared)
    assert (b_after, a_after) == both(fingerprint.Fingerprinter(tmp_path))
    assert b_after == b_first
    assert a_after != a_second


def test_syntax_error_raises_config_error_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "import helpers\n\ndef train():\n    return helpers.f()\n")
    write(tmp_path, "helpers.py", "def f():\n    return 1\n\ndef g(:\n    pass\n")
    with pytest.raises(ConfigError) as info:
        fp(tmp_path, "stages.py")
    assert info.value.file == "helpers.py"
    assert info.value.line == 4
    assert "cannot parse helpers.py" in info.value.message
    assert info.value.hint


def test_unknown_qualname_names_file_and_suggests(tmp_path: Path) -> None:
    write(tmp_path, "sub/stages.py", "def train():\n    pass\n\ndef evaluate():\n    pass\n")
    with pytest.raises(ConfigError) as info:
        fp(tmp_path, "sub/stages.py", "trian")
    assert info.value.file == "sub/stages.py"
    assert info.value.hint is not None
    assert "did you mean 'train'?" in info.value.hint
    assert "evaluate" in info.value.hint


def test_unknown_method_suggests_members(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "class Model:\n    def fit(self):\n        pass\n")
    with pytest.raises(ConfigError) as info:
        fp(tmp_path, "stages.py", "Model.fitt")
    assert info.value.hint is not None
    assert "did you mean 'fit'?" in info.value.hint


def test_unresolved_names_do_not_fail(tmp_path: Path) -> None:
    write(tmp_path, "stages.py", "globals()['magic'] = 1\n\ndef train():\n    return magic\n")
    assert fp(tmp_path, "stages.py")


def test_module_function_resolves_dotted_module_on_search_path(tmp_path: Path) -> None:
    write(tmp_path, "pipe/pkg/__init__.py", "")
    write(tmp_path, "pipe/pkg/stages.py", "def train():\n    return 1\n")
    write(tmp_path, "pipe/stages.py", "def train():\n    return 2\n")
    fper = fingerprint.Fingerprinter(tmp_path)
    search = [tmp_path / "pipe", tmp_path]
    dotted = fper.module_function("pkg.stages", "train", search)
    assert dotted == fper.function(tmp_path / "pipe/pkg/stages.py", "train", search)
    assert fper.module_function("stages", "train", search) == fper.function(
        tmp_path / "pipe/stages.py", "train", search)
    assert fper.module_function("stages", "train", search) != dotted
    assert fper.module_function("not_here", "train", search) != fper.module_function("not_here", "x", search)


def test_stage_importing_uninstalled_packages_fingerprints_without_importing(tmp_path: Path) -> None:
    write(tmp_path, "pipe/stages.py", """\
        import torch
        from helpers import prepare

        def train(x):
            return torch.tensor(prepare(x))
    """)
    write(tmp_path, "pipe/helpers.py", "import pandas as pd\n\ndef prepare(x):\n    return pd.DataFrame(x)\n")
    before = set(sys.modules)
    fper = fingerprint.Fingerprinter(tmp_path)
    assert fper.module_function("stages", "train", [tmp_path / "pipe", tmp_path])
    new = set(sys.modules) - before
    assert not {name.partition(".")[0] for name in new} & {"stages", "helpers", "torch", "pandas"}
    assert not [m for m in new if str(tmp_path) in str(getattr(sys.modules[m], "__file__", None))]


def test_resolve_module_only_returns_project_code(tmp_path: Path) -> None:
    write(tmp_path, "pipe/helpers.py", "")
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/sub.py", "")
    write(tmp_path, "node_modules/thing.py", "")
    fper = fingerprint.Fingerprinter(tmp_path)
    search = [tmp_path / "pipe", tmp_path, tmp_path / "node_modules"]
    assert fper.resolve_module("helpers", search) == (tmp_path / "pipe/helpers.py").resolve()
    assert fper.resolve_module("pkg", search) == (tmp_path / "pkg/__init__.py").resolve()
    assert fper.resolve_module("sub", [], importer=tmp_path / "pkg/__init__.py", level=1) == (
        tmp_path / "pkg/sub.py").resolve()
    assert fper.resolve_module("thing", search) is None
    assert fper.resolve_module("json", search) is None


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files pysource.parse is called on, in order."""
    calls: list[str] = []
    real_parse = pysource.parse

    def counting_parse(source: bytes, filename: str) -> pysource.ModuleSource:
        calls.append(filename)
        return real_parse(source, filename)

    monkeypatch.setattr(pysource, "parse", counting_parse)
    return calls


def test_same_fingerprinter_sees_edits_and_parses_each_file_once(tmp_path: Path, parsed: list[str]) -> None:
    write(tmp_path, "stages.py", STAGE)
    write(tmp_path, "helpers.py", HELPERS)
    fper = fingerprint.Fingerprinter(tmp_path)
    search = [tmp_path]
    first = fper.function(tmp_path / "stages.py", "train", search)
    assert fper.function(tmp_path / "stages.py", "train", search) == first
    assert sorted(parsed) == ["helpers.py", "stages.py"]
    write(tmp_path, "helpers.py", HELPERS.replace("x * 2", "x * 20"))
    assert fper.function(tmp_path / "stages.py", "train", search) != first


def test_two_hundred_functions_in_ten_files_parse_each_file_once(tmp_path: Path, parsed: list[str]) -> None:
    """Speed is measured in bench/; here: each file is parsed once and every stage is told apart."""
    for index in range(10):
        body = "".join(f"def stage_{n}(x):\n    return helper(x) + {n}\n\n" for n in range(20))
        write(tmp_path, f"p{index}/stages.py", f"import common\n\ndef helper(x):\n    return common.f(x)\n\n{body}")
    write(tmp_path, "common.py", "def f(x):\n    return x\n")
    fper = fingerprint.Fingerprinter(tmp_path)
    fps = {fper.function(tmp_path / f"p{index}/stages.py", f"stage_{n}", [tmp_path / f"p{index}", tmp_path])
           for index in range(10) for n in range(20)}
    assert len(fps) == 200
    assert sorted(parsed) == sorted(["common.py"] + [f"p{i}/stages.py" for i in range(10)])
