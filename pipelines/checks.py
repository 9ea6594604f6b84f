"""`mpulse check-config`: the config and every file it points to, with all problems listed at once."""

from __future__ import annotations

from resources.config import MpulseConfig, load_config
from resources.csv_files import FILE_CONTRACTS, read_contract_file
from resources.errors import InputError

BUILT_IN_CHANNELS = {"google_ads", "facebook_ads", "other"}


def _channel_problems(config: MpulseConfig) -> list[str]:
    known = BUILT_IN_CHANNELS | {rule.channel for rule in config.channels}
    where = config.config_path.name
    problems = [
        f"{where}: plan[{i}].channel: {row.channel!r} is not a channel of any rule"
        for i, row in enumerate(config.plan)
        if row.channel not in known
    ]
    for i, person in enumerate(config.specialists):
        problems += [
            f"{where}: specialists[{i}].channels: {channel!r} is not a channel of any rule"
            for channel in person.channels
            if channel not in known
        ]
    return problems


def check_config_and_files(path: str | None) -> tuple[MpulseConfig, list[str]]:
    """Returns the config and every problem found; raises ConfigError when the config itself is invalid."""
    config = load_config(path)
    problems = _channel_problems(config)
    if config.sources.files is not None:
        folder = config.resolve(config.sources.files.path)
        if not folder.is_dir():
            problems.append(f"{config.config_path.name}: sources.files.path: folder {folder} does not exist")
        else:
            for contract in FILE_CONTRACTS.values():
                file = folder / contract.filename
                if file.exists():
                    try:
                        read_contract_file(file, contract)
                    except InputError as exc:
                        problems.extend(exc.problems)
    return config, problems
