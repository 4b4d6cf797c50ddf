"""Device profiles. Profiles are loaded lazily by name, so importing this package touches no hardware library."""
from __future__ import annotations

from harness.core.errors import DeviceError
from harness.core.registry import load_entry

# name -> "module:Class"; adding a profile is adding a file and a line here
PROFILES: dict[str, str] = {
    "cpu": "harness.device_profiles.cpu:CpuProfile",
    "nvidia-gpu": "harness.device_profiles.nvidia_gpu:NvidiaGpuProfile",
    "jetson": "harness.device_profiles.jetson:JetsonProfile",
}


def profile_class(name: str):
    return load_entry(PROFILES, name, "device", DeviceError)


def load_profile(name: str, config=None):
    """Instantiate profile `name` after checking that its device is present on this host."""
    from harness.device_profiles.base import ProfileConfig

    cls = profile_class(name)
    config = config or ProfileConfig()
    found = cls.detect(config)
    if not found.available:
        raise DeviceError(f"device {name!r} is not available here: {found.reason}")
    return cls(config)
