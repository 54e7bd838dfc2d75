# Start the per-user agent manager at login, once, from a shell profile
# (~/.profile, ~/.bash_profile or ~/.zprofile):  . /path/to/pylaunchd/contrib/profile.sh
# It does nothing when a manager of this user already answers; a second
# manager would refuse to start anyway (the control socket is locked).
if command -v pylaunchd >/dev/null 2>&1 && ! pylaunchctl print "user/$(id -u)" >/dev/null 2>&1; then
    _pylaunchd_log="${XDG_STATE_HOME:-$HOME/.local/state}/pylaunchd"
    mkdir -p "$_pylaunchd_log"
    nohup pylaunchd --user >>"$_pylaunchd_log/manager.log" 2>&1 </dev/null &
    unset _pylaunchd_log
fi
