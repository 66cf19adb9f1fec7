"""Serve a fixed string to GET and POST on every path: the baseline for the benchmarks.

The handler does no parsing, authentication or database work, so its request rate is
the upper bound that one Tornado process reaches on the same machine.
"""

import argparse
import asyncio

import tornado.web

RESPONSE_BODY = "ok\n"


class FixedResponseHandler(tornado.web.RequestHandler):
    """Handler that writes ``RESPONSE_BODY`` and ignores the request."""

    def get(self) -> None:
        self.write(RESPONSE_BODY)

    def post(self) -> None:
        self.write(RESPONSE_BODY)


def make_app() -> tornado.web.Application:
    """Build the application with one route that matches every path."""
    return tornado.web.Application([(r"/.*", FixedResponseHandler)])


async def serve(host: str, port: int) -> None:
    """Listen on ``host``:``port`` until the process is terminated."""
    make_app().listen(port, address=host)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
