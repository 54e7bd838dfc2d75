"""D-Bus activation: pylaunchd as the bus's activator (see docs/dbus.md)."""
