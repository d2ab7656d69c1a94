"""The data loader: verified, cached, offline; every failure mode gives one clear error."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from mlops_course import data
from mlops_course.errors import DataIntegrityError, DataUnavailableError


@pytest.fixture
def mirror(tmp_path: Path, housing_csv: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mirror folder holding a good copy; tests may damage it."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.copyfile(housing_csv, folder / "housing.csv")
    monkeypatch.setenv(data.MIRROR_ENV, str(folder))
    return folder


def test_fetch_from_mirror_caches_a_verified_copy(isolated_data_dir: Path, mirror: Path) -> None:
    path = data.fetch_housing()
    assert path == isolated_data_dir / "raw" / "housing.csv"
    assert data.sha256_file(path) == data.HOUSING_SHA256
    assert data.fetch_housing() == path  # second call: the cache, no copy
    assert [p.name for p in path.parent.iterdir()] == ["housing.csv"]  # no temp files left


def test_load_housing_dtypes_and_shape(housing_csv: Path) -> None:
    df = data.load_housing()
    assert df.shape == (20_640, 10)
    assert list(df.columns) == data.COLUMNS
    assert df["ocean_proximity"].dtype == pd.CategoricalDtype(data.OCEAN_CATEGORIES)
    assert (df[data.NUMERIC_FEATURES + [data.TARGET]].dtypes == "float64").all()
    assert df["total_bedrooms"].isna().sum() == 207
    assert df[data.TARGET].max() == 500_001


def test_truncated_mirror_file_is_rejected_and_nothing_cached(
    isolated_data_dir: Path, mirror: Path
) -> None:
    content = (mirror / "housing.csv").read_bytes()
    (mirror / "housing.csv").write_bytes(content[: len(content) // 2])
    with pytest.raises(DataIntegrityError, match=r"truncated: 711,764 of 1,423,529 bytes"):
        data.fetch_housing()
    assert not data.housing_path().exists()


def test_altered_mirror_file_is_rejected(isolated_data_dir: Path, mirror: Path) -> None:
    content = bytearray((mirror / "housing.csv").read_bytes())
    content[-10] = ord("9") if content[-10] != ord("9") else ord("8")
    (mirror / "housing.csv").write_bytes(bytes(content))
    with pytest.raises(DataIntegrityError, match="altered") as err:
        data.fetch_housing()
    assert "mlops-course data fetch --force" in str(err.value)


def test_missing_mirror_file_names_the_variable(
    isolated_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataUnavailableError, match=data.MIRROR_ENV):
        data.fetch_housing()


def test_no_network_and_no_cache_says_how_to_fix(isolated_data_dir: Path) -> None:
    # the autouse fixture blocks the network: the download fails like it does offline
    with pytest.raises(DataUnavailableError) as err:
        data.fetch_housing(timeout_s=2)
    message = str(err.value)
    assert "Could not download" in message and data.MIRROR_ENV in message
    assert not data.housing_path().exists()


def test_download_path_verifies_too(
    isolated_data_dir: Path, housing_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download branch (served from a local file) caches only a verified copy."""
    seen = []

    def fake_urlopen(url: str, timeout: float):  # the network is off in tests
        seen.append(url)
        return open(housing_csv, "rb")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert data.sha256_file(data.fetch_housing()) == data.HOUSING_SHA256
    assert seen == [data.HOUSING_URL]


def test_corrupt_cache_is_never_used_and_force_keeps_it(
    isolated_data_dir: Path, mirror: Path
) -> None:
    path = data.fetch_housing()
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataIntegrityError, match="cached housing data .* truncated"):
        data.load_housing()
    fixed = data.fetch_housing(force=True)
    assert data.sha256_file(fixed) == data.HOUSING_SHA256
    assert (fixed.parent / "housing.csv.bad").stat().st_size == 1000  # nothing lost


def test_read_csv_with_missing_columns_is_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    data.make_synthetic_housing(10).drop(columns="median_income").to_csv(bad, index=False)
    with pytest.raises(DataIntegrityError, match="lacks the column"):
        data.read_housing_csv(bad)


def test_read_csv_with_text_in_numbers_is_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    frame = data.make_synthetic_housing(10).astype({"median_income": object})
    frame.loc[3, "median_income"] = "lots"
    frame.to_csv(bad, index=False)
    with pytest.raises(DataIntegrityError, match="median_income.*not numeric"):
        data.read_housing_csv(bad)


def test_empty_file_is_clear(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataIntegrityError, match="not a readable CSV"):
        data.read_housing_csv(empty)


def test_stratified_split_keeps_income_distribution(housing_csv: Path) -> None:
    df = data.load_housing()
    train, test = data.split_train_test(df, seed=42)
    assert len(train) == 16_512 and len(test) == 4_128
    assert not set(train.index) & set(test.index)
    whole = data.income_category(df["median_income"]).value_counts(normalize=True)
    part = data.income_category(test["median_income"]).value_counts(normalize=True)
    assert (whole - part).abs().max() < 0.002
    again, _ = data.split_train_test(df, seed=42)
    assert again.index.equals(train.index)  # same seed, same split


def test_synthetic_data_has_the_schema() -> None:
    frame = data.make_synthetic_housing(300, seed=1)
    assert list(frame.columns) == data.COLUMNS
    assert frame["ocean_proximity"].dtype == pd.CategoricalDtype(data.OCEAN_CATEGORIES)
    assert frame.equals(data.make_synthetic_housing(300, seed=1))
    assert frame[data.TARGET].between(15_000, 500_001).all()


def test_data_update_is_a_plausible_new_release(housing_csv: Path) -> None:
    df = data.load_housing()
    updated = data.make_data_update(df)
    assert len(updated) == round(0.95 * len(df))
    assert list(updated.columns) == data.COLUMNS
    assert not updated[data.TARGET].equals(df.loc[updated.index, data.TARGET])
