"""xero-local (the Xero emulator) on several addresses of one port, with one state.

Usage: python xero_emulator.py -H 127.0.0.1 [-H 172.30.0.1 ...] -p 5051
"""

import argparse
import logging

from xero_local.server import create_router

from listen import serve_on_hosts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", action="append", help="address to listen on (repeatable; default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s  %(levelname)-8s  %(name)s  %(message)s")
    serve_on_hosts(args.host or ["127.0.0.1"], args.port, create_router().wsgi())


if __name__ == "__main__":
    main()
