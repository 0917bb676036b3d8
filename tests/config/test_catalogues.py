"""The catalogues (presets, codecs) are the one list of names: the schema, the core and the
store agree with them, row for row."""

from __future__ import annotations

import pytest

from movmnist.config import Config, codecs, presets
from movmnist.core import motion
from movmnist.errors import ConfigError
from movmnist.store import shards


def test_every_preset_has_a_motion_function_and_nothing_else_does() -> None:
    assert set(motion.PRESETS) == set(presets.NAMES)


@pytest.mark.parametrize("name", presets.NAMES)
def test_the_schema_takes_every_preset_with_its_defaults(name: str) -> None:
    cfg = Config.from_data({"motion": {"preset": name}})
    data = cfg.to_data()
    for (section, key), value in presets.PRESETS[name].defaults.items():
        assert data[section][key] == value


def test_the_schema_names_the_catalogue_when_a_preset_is_unknown() -> None:
    with pytest.raises(ConfigError) as err:
        Config.from_data({"motion": {"preset": "bouncy"}})
    assert str(err.value) == (
        "motion.preset must be " + ", ".join(f"'{n}'" for n in presets.NAMES[:-1]) + f" or '{presets.NAMES[-1]}'"
        " (got 'bouncy')"
    )


@pytest.mark.parametrize("name", codecs.NAMES)
def test_every_codec_is_accepted_and_has_hdf5_filter_arguments(name: str) -> None:
    codec = codecs.CODECS[name]
    cfg = Config.from_data({"output": {"compression": name}})
    expected_level = codec.levels[2] if codec.levels else 1
    assert cfg.output.compression_level == expected_level
    args = shards.compression_args(name, cfg.output.compression_level)
    assert (args == {}) == (name == "none")


def test_the_schema_refuses_a_codec_outside_the_catalogue() -> None:
    with pytest.raises(ConfigError, match=r"^output.compression must be 'gzip', .* \(got 'brotli'\)$"):
        Config.from_data({"output": {"compression": "brotli"}})
    with pytest.raises(ConfigError, match=r"^output.compression_level must be within \[1, 22\] for zstd"):
        Config.from_data({"output": {"compression": "zstd", "compression_level": 0}})


def test_every_source_kind_has_an_opener_and_nothing_else_does() -> None:
    from movmnist.config import source_kinds
    from movmnist.sources import OPENERS

    assert tuple(OPENERS) == source_kinds.NAMES
    assert Config.from_data({}).source.kind == source_kinds.DEFAULT
