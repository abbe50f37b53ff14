"""What the IOC and its clients share besides Channel Access: where files go, how a client
finds a running IOC (connection files), and the launcher that starts an IOC on a port of
its own (used by the demo, the tests and the benchmarks), and the console scripts that run
EPICS base's caget/caput/camonitor/cainfo. No EPICS server code here."""
