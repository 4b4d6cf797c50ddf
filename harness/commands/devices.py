"""`harness devices`: which device profiles are present on this host, and why the others are not."""
from __future__ import annotations

from harness.commands.common import from_args
from harness.core.units import print_json, print_table


def register(sub) -> None:
    p = sub.add_parser("devices", help="list device profiles and whether each is available here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=from_args(run))


def run(*, json=False) -> int:
    from harness.device_profiles import PROFILES, profile_class
    from harness.device_profiles.base import ProfileConfig
    from harness.device_profiles.replay import replay_settings

    root, options, _ = replay_settings()   # HARNESS_SYSFS_ROOT / HARNESS_TOOLS_DIR, as bench sees them
    rows = []
    for name in PROFILES:
        try:
            cls = profile_class(name)
            found = cls.detect(ProfileConfig(root=root, options=options))
        except ImportError as exc:
            rows.append({"device": name, "available": False, "reason": f"cannot load profile: {exc}",
                         "description": ""})
            continue
        rows.append({"device": name, "available": found.available, "reason": found.reason or "",
                     "description": cls.description})
    if json:
        print_json(rows)
    else:
        print_table(rows, ["device", "available", "reason"])
    return 0
