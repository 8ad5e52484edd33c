"""labdeck's own settings for the user (``settings.json`` in the data directory).

Only what is not a window layout lives here (the GUI keeps those in QSettings); the
CLI reads and writes it with ``labdeck config``. Written atomically; unknown keys refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from labdeck.errors import UserError
from labdeck.paths import data_dir

# key -> what it is for (shown by `labdeck config`)
KNOWN = {
    "user": "who you are in approval logs and model cards (LABDECK_USER overrides it)",
}


class SettingsError(UserError, ValueError):
    pass


def settings_path() -> Path:
    return data_dir() / "settings.json"


def load() -> dict[str, str]:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read {settings_path()}: {exc}") from exc
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def get(key: str) -> str | None:
    return load().get(key)


def set_value(key: str, value: str | None) -> None:
    """Set ``key`` (None removes it)."""
    if key not in KNOWN:
        raise SettingsError(f"unknown setting {key!r}: one of {', '.join(sorted(KNOWN))}")
    data = load()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
