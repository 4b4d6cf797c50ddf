"""Device profiles. Profiles are loaded lazily by name, so importing this package touches no hardware library."""
from __future__ import annotations

import importlib

from harness.errors import DeviceError

# name -> "module:Class"; adding a profile is adding a file and a line here
PROFILES: dict[str, str] = {
    "cpu": "device_profiles.cpu:CpuProfile",
    "nvidia-gpu": "device_profiles.nvidia_gpu:NvidiaGpuProfile",
    "jetson": "device_profiles.jetson:JetsonProfile",
}


def profile_class(name: str):
    try:
        target = PROFILES[name]
    except KeyError:
        raise DeviceError(f"unknown device {name!r}; choose one of: {', '.join(sorted(PROFILES))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def load_profile(name: str, config=None):
    """Instantiate profile `name` after checking that its device is present on this host."""
    from device_profiles.base import ProfileConfig

    cls = profile_class(name)
    config = config or ProfileConfig()
    found = cls.detect(config)
    if not found.available:
        raise DeviceError(f"device {name!r} is not available here: {found.reason}")
    return cls(config)
