"""Exit statuses of pylaunchctl, the error that carries one, and the
sentences of launchctl's codes (launchd/libxpc 107-159) for
``pylaunchctl error CODE``; codes below 107 are POSIX errno values.

Standard library only: pylaunchctl, the control server and the manager all
import it.
"""

from __future__ import annotations

import os

# Exit statuses, launchctl's where it has them.
EXIT_USAGE = 64  # EX_USAGE: a bad verb, option or request argument
EXIT_NO_SUCH_PROCESS = 3  # ESRCH
EXIT_IO = 5  # EIO: launchctl's catch-all for a failed load
EXIT_PERMISSION = 1  # EPERM
EXIT_NO_SERVICE = 113  # "Could not find specified service"
EXIT_DISABLED = 119  # "Service is disabled"
EXIT_INVALID_PLIST = 109  # "Invalid property list"
EXIT_BAD_PERMISSIONS = 122  # "Path had bad ownership/permissions"
EXIT_WRONG_SESSION = 134  # "Service cannot load in requested session"
EXIT_NO_MANAGER = 112  # "Could not find specified domain": no manager listens
EXIT_TIMED_OUT = 60  # ETIMEDOUT as launchctl's (macOS) errno: kickstart -w gave up


class ControlError(Exception):
    """The request failed; ``status`` is the exit status for pylaunchctl."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


LAUNCHD_ERRORS = {
    107: 'Malformed bundle',
    108: 'Invalid path',
    109: 'Invalid property list',
    110: 'Invalid or missing service identifier',
    111: 'Invalid or missing Program/ProgramArguments',
    112: 'Could not find specified domain',
    113: 'Could not find specified service',
    114: 'The specified username does not exist',
    115: 'The specified group does not exist',
    116: 'Routine not yet implemented',
    117: '(n/a)',
    118: 'Bad response from server',
    119: 'Service is disabled',
    120: 'Bad subsystem destination for request',
    121: 'Path not searched for services',
    122: 'Path had bad ownership/permissions',
    123: 'Path is whitelisted for domain',
    124: 'Domain is tearing down',
    125: 'Domain does not support specified action',
    126: 'Request type is no longer supported',
    127: 'The specified service did not ship with the operating system',
    128: 'The specified path is not a bundle',
    129: 'The service was superseded by a later later version',
    130: 'The system encountered a condition where behavior was undefined',
    131: 'Out of order requests',
    132: 'Request for stale data',
    133: 'Multiple errors were returned; see stderr',
    134: 'Service cannot load in requested session',
    135: 'Process is not managed',
    136: 'Action not allowed on singleton service',
    137: 'Service does not support the specified action',
    138: 'Service cannot be loaded on this hardware',
    139: 'Service cannot presently execute',
    140: 'Service name is reserved or invalid',
    141: 'Reentrancy avoided',
    142: 'Operation only supported on development',
    143: 'Requested entry was cached',
    144: 'Requestor lacks required entitlement',
    145: 'Endpoint is hidden',
    146: 'Domain is in on-demand-only mode',
    147: 'The specified service did not ship in the requestor',
    148: 'The specified service path was not in the service cache',
    149: 'Could not find a bundle of the given identifier through LaunchServices',
    150: 'Operation not permitted while System Integrity Protection is engaged',
    151: 'A complete hack',
    152: 'Service cannot load in current boot environment',
    153: 'Completely unexpected error',
    154: 'Requestor is not a platform binary',
    155: 'Refusing to execute/trust quarantined program/file',
    156: 'Domain creation with that UID is not allowed anymore',
    157: 'System service is not in system service whitelist',
    158: 'Service cannot be loaded on current os variant',
    159: 'Unknown error',
}


def describe(code: int) -> str:
    """What an exit status of pylaunchctl (or launchctl) means."""
    if code in LAUNCHD_ERRORS:
        return LAUNCHD_ERRORS[code]
    if code == 64:
        return "Usage error (EX_USAGE)"
    if code == EXIT_TIMED_OUT:  # macOS's errno, not Linux's (ENOSTR)
        return "Operation timed out"
    if 0 < code < 107:
        return os.strerror(code)
    return "Unknown error"
