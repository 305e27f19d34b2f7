#!/usr/bin/env python3
"""The level-triggered epoll server of the Python epoll tutorial (Scot Doyle,
"How To Use Linux epoll with Python", the level-triggered example), ported to
Python 3, as a peer for bench/http/run.sh.

As in the tutorial: one process, level-triggered epoll, recv(1024) until the
request ends with a blank line, then EPOLLOUT, send the canned HTTP/1.0
response, shutdown(SHUT_RDWR), and close on EPOLLHUP. So every connection
carries one request: it takes part in the Connection: close load only.

Changes, all needed to run under load: a --port flag (0 picks a free port)
and the "listening on" line; listen(1024) instead of listen(1); no print of
each request; "Connection: close" in the response; a recv that returns b''
(peer gone before its request ended) closes the socket instead of spinning;
SIGTERM exits with status 0.
"""
import argparse
import select
import signal
import socket
import sys

EOL1 = b'\n\n'
EOL2 = b'\n\r\n'
response = b'HTTP/1.0 200 OK\r\nDate: Mon, 1 Jan 1996 01:01:01 GMT\r\n'
response += b'Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\n'
response += b'Hello, world!'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    serversocket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    serversocket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    serversocket.bind((args.host, args.port))
    serversocket.listen(1024)
    serversocket.setblocking(0)
    print('epoll tutorial listening on %s:%d' % serversocket.getsockname(), flush=True)

    epoll = select.epoll()
    epoll.register(serversocket.fileno(), select.EPOLLIN)
    try:
        connections = {}; requests = {}; responses = {}
        while True:
            events = epoll.poll(1)
            for fileno, event in events:
                if fileno == serversocket.fileno():
                    try:
                        connection, address = serversocket.accept()
                    except BlockingIOError:
                        continue
                    connection.setblocking(0)
                    epoll.register(connection.fileno(), select.EPOLLIN)
                    connections[connection.fileno()] = connection
                    requests[connection.fileno()] = b''
                    responses[connection.fileno()] = response
                elif event & select.EPOLLIN:
                    try:
                        data = connections[fileno].recv(1024)
                    except OSError:
                        data = b''
                    if not data:
                        epoll.unregister(fileno)
                        connections.pop(fileno).close()
                        continue
                    requests[fileno] += data
                    if EOL1 in requests[fileno] or EOL2 in requests[fileno]:
                        epoll.modify(fileno, select.EPOLLOUT)
                elif event & select.EPOLLOUT:
                    try:
                        byteswritten = connections[fileno].send(responses[fileno])
                    except OSError:
                        byteswritten = len(responses[fileno])
                    responses[fileno] = responses[fileno][byteswritten:]
                    if len(responses[fileno]) == 0:
                        epoll.modify(fileno, 0)
                        try:
                            connections[fileno].shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                elif event & select.EPOLLHUP:
                    epoll.unregister(fileno)
                    connections[fileno].close()
                    del connections[fileno]
    finally:
        epoll.unregister(serversocket.fileno())
        epoll.close()
        serversocket.close()


if __name__ == '__main__':
    main()
