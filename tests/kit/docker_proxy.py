"""Docker's port publisher as a test sees it: a process named ``docker-proxy`` on a host port.

    docker-proxy tests/kit/docker_proxy.py -proto tcp -host-ip 127.0.0.1 -host-port PORT \
        -container-ip 172.17.0.2 -container-port 80

Run through a link named ``docker-proxy`` to the Python interpreter, so the process has
docker-proxy's name and (after the script's path) its command line. It listens on the host
port and, as docker-proxy does when the container behind it does not answer, closes every
connection it accepts. Prints ``LISTENING <host> <port>`` once it listens.
"""

from __future__ import annotations

import socket
import sys


def main() -> int:
    args = sys.argv[1:]
    host = args[args.index("-host-ip") + 1]
    port = int(args[args.index("-host-port") + 1])
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(16)
    print(f"LISTENING {host} {port}", flush=True)
    while True:
        conn, _ = listener.accept()
        # The container did not answer: nothing to forward. Close our side at once, and read
        # what the client sent until it closes too, so the close is a FIN and never an RST.
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(5.0)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
