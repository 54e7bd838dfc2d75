"""The control protocol between pylaunchctl and a running pylaunchd.

One JSON request per connection on a unix stream socket, one JSON reply:
``protocol`` frames and checks credentials, ``commands`` holds one handler
per verb.
"""
