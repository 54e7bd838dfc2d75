"""The control protocol between pylaunchctl and a running pylaunchd.

One JSON request line per connection on a unix stream socket, one JSON reply
line. In the order a request travels:

``client``    pylaunchctl's side: targets, which socket, failing as launchctl
``protocol``  framing, the size limit, the client call, peer credentials
``listener``  the control socket's file and lock
``server``    the manager's side: read, check who and what, run, answer
``verb``      the Verb base class and its registry; ``verbs/`` one module
              per verb or family: both halves of each verb, its docstring
              its documentation
``service``   the narrow manager API the verbs' server halves call
``status``    the records both halves share (JobStatus, SocketStatus, ...)
``errors``    exit statuses, ControlError, launchctl's sentences
``docs``      the verb reference in docs/, written from the verbs

Only ``server`` and ``service`` reach the manager; pylaunchctl imports
neither.
"""
