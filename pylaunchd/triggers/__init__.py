"""What starts a job besides a client on its socket: launchd's launch events.

One module per kind of event, each feeding the job's state machine
(:mod:`pylaunchd.job`) through :mod:`pylaunchd.facts` or the job's runtime:

=========================  =============================================
key                        where
=========================  =============================================
``StartInterval``          a timer of the state machine itself
                           (``Timer.INTERVAL`` in :mod:`pylaunchd.job`):
                           it needs no watcher, only the clock
``StartCalendarInterval``  :mod:`.calendar` (the schedules, pure) and
                           :mod:`.schedule` (their timer on the clock)
``WatchPaths``,            :mod:`.pathwatch` (inotify through watchdog)
``QueueDirectories``,
``KeepAlive.PathState``
``StartOnMount``,          :mod:`.system` (mountinfo, netlink)
``KeepAlive.NetworkState``
=========================  =============================================

Importing this package imports none of them: :mod:`.calendar` is read by the
plist validator, which must not pull in watchdog.
"""
