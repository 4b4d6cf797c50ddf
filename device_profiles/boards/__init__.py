"""Board description data files (TOML), one per Jetson family; read by harness.device_profiles.jetson_board."""
