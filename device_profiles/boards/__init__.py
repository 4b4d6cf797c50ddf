"""Board description data files (TOML), one per Jetson family; read by device_profiles.jetson_board."""
