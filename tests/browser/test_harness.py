"""The browser harness never passes quietly: a missing chromium skips locally, fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, check_browser_stack


def test_missing_chromium_skips_locally_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium"
    with pytest.raises(pytest.skip.Exception, match=f"chromium not found at {missing}"):
        check_browser_stack(missing, in_ci=False)


def test_missing_chromium_fails_in_ci(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium"
    with pytest.raises(pytest.fail.Exception, match=f"CI=true and chromium not found at {missing}"):
        check_browser_stack(missing, in_ci=True)


def test_a_file_that_cannot_run_is_not_chromium(tmp_path: Path) -> None:
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    with pytest.raises(pytest.fail.Exception, match="chromium not found"):
        check_browser_stack(not_executable, in_ci=True)


@pytest.mark.browser
def test_the_real_stack_passes_the_check() -> None:
    # Under CI=true this fails when .ci/run did not install chromium or an extra is missing.
    check_browser_stack(CHROMIUM)
