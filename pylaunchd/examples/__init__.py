"""Small programs used by the example jobs in LaunchAgents/ and LaunchDaemons/."""
